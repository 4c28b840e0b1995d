import t from 'tap'
import { request } from 'undici'
import { schema1Payload } from '../../src/oci/schema1.js'
import { http, sha256, type HttpResult } from '../helpers/http.js'
import { OciLayoutWriter } from '../helpers/oci-layout.js'
import { pushLayoutImage, SEED_PASSWORD, SEED_USER } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import type { Upstream } from '../helpers/upstream.js'

const SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws'
const REPO = 'library/legacy'

/**
 * A Docker manifest list whose images carry history: Distribution converts such an image
 * to signed schema 1 for a client that accepts neither the list nor schema 2.
 */
async function pushLegacyList(registryUrl: string): Promise<void> {
  const layout = await makeTempDir('legacy-layout')
  try {
    const w = new OciLayoutWriter(layout.path)
    const layers = [
      { size: 2048, seed: 'legacy-1' },
      { size: 4096, seed: 'legacy-2' },
    ]
    const amd64 = await w.image({ os: 'linux', architecture: 'amd64', history: true, layers })
    const arm64 = await w.image({ os: 'linux', architecture: 'arm64', history: true, layers: [layers[0]!] })
    w.tag('legacy', await w.index([amd64, arm64]))
    await w.finish()
    await pushLayoutImage(registryUrl, layout.path, 'legacy', REPO, ['--all', '--format', 'v2s2'])
  } finally {
    await layout.remove()
  }
}

/** The same request asked of the registry itself, with a token from its token server. */
async function askUpstream(upstream: Upstream, path: string, accept: string | undefined): Promise<HttpResult> {
  const basic = Buffer.from(`${SEED_USER}:${SEED_PASSWORD}`).toString('base64')
  const scope = `repository:${REPO}:pull`
  const tokenRes = await request(`${upstream.tokens.realm}?service=test-registry&scope=${scope}`, {
    headers: { authorization: `Basic ${basic}` },
  })
  const { token } = (await tokenRes.body.json()) as { token: string }
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (accept !== undefined) headers.accept = accept
  return http(`${upstream.registry.url}${path}`, { headers })
}

const ACCEPTS: Array<[string, string | undefined]> = [
  ['an OCI manifest only', 'application/vnd.oci.image.manifest.v1+json'],
  ['no Accept at all', undefined],
  ['schema 1 only, as an old Docker engine', `${SIGNED}, application/vnd.docker.distribution.manifest.v1+json`],
]

t.test('schema 1 conversions of a manifest list are served as the upstream serves them', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  await pushLegacyList(upstream.registry.url)
  const path = `/v2/${REPO}/manifests/1`

  for (const [name, accept] of ACCEPTS) {
    const direct = await askUpstream(upstream, path, accept)
    t.equal(direct.status, 200, `${name}: the upstream answers`)
    t.equal(direct.headers['content-type'], SIGNED, `${name}: with signed schema 1`)
    const digest = direct.headers['docker-content-digest']
    t.not(sha256(direct.body), digest, `${name}: whose digest is not that of its bytes`)
    t.equal(sha256(schema1Payload(direct.body)), digest, `${name}: but that of its signed payload`)

    const headers: Record<string, string> = accept === undefined ? {} : { accept }
    for (const round of ['first', 'again']) {
      const via = await http(`${mirror.url}${path}`, { headers })
      t.equal(via.status, 200, `${name}, ${round}: the mirror answers too`)
      t.equal(via.headers['content-type'], SIGNED, `${name}, ${round}: the same type`)
      t.equal(via.headers['docker-content-digest'], digest, `${name}, ${round}: the same digest`)
      t.equal(sha256(schema1Payload(via.body)), digest, `${name}, ${round}: the digest rule holds`)
      t.same(schema1Payload(via.body), schema1Payload(direct.body), `${name}, ${round}: the same manifest`)
      t.match(JSON.parse(via.body.toString()) as unknown, {
        schemaVersion: 1,
        name: REPO,
        tag: '1',
        architecture: 'amd64',
        fsLayers: [{ blobSum: String }, { blobSum: String }],
      })
    }
    const head = await http(`${mirror.url}${path}`, { method: 'HEAD', headers })
    t.equal(head.status, 200, `${name}: HEAD`)
    t.equal(head.headers['docker-content-digest'], digest, `${name}: HEAD names the same digest`)
    t.equal(await mirror.app.store.stat(String(digest)), undefined, `${name}: nothing stored under its digest`)
  }
  t.ok(
    mirror.logs.some((l) => l.msg === 'schema 1 manifest passed through uncached' && l.repo === REPO),
    'the pass-through is logged',
  )

  const all = await http(`${mirror.url}${path}`, {
    headers: { accept: 'application/vnd.docker.distribution.manifest.list.v2+json' },
  })
  t.equal(all.headers['content-type'], 'application/vnd.docker.distribution.manifest.list.v2+json')
  t.equal(sha256(all.body), all.headers['docker-content-digest'], 'a client that takes lists still gets the list')

  const original = await askUpstream(upstream, path, undefined)
  t.ok(original.body.includes('"tag": "1"'), 'the text the fault alters is there')
  proxy!.setFault({ kind: 'alter', from: '"tag": "1"', to: '"tag": "2"' }, (_m, p) => p.includes('/manifests/'))
  const tampered = await http(`${mirror.url}${path}`)
  t.equal(tampered.status, 502, 'a schema 1 manifest whose payload changed on the way is refused')
  t.match(JSON.parse(tampered.body.toString()) as unknown, { errors: [{ code: 'UNKNOWN' }] })
})
