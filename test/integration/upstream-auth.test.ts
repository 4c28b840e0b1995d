// Auth with several upstreams: each upstream's challenges send clients to its own realm
// through the mirror, token scopes are rewritten to the names that upstream knows, and an
// upstream with no auth at all sits beside one with token auth.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { findBearer } from '../../src/auth/www-authenticate.js'
import { ALICE, basic, bearer } from '../helpers/credentials.js'
import { http, json, sha256 } from '../helpers/http.js'
import { startMirror } from '../helpers/mirror.js'
import { SECOND_NAME, startSecondUpstream } from '../helpers/second-upstream.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startTwoUpstreams } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

async function pulledDigest(source: string, extra: string[] = []): Promise<string> {
  const dir = await makeTempDir('skopeo')
  try {
    await skopeoCopy(source, dir.path, extra)
    await verifyDirLayout(dir.path)
    return sha256(await readFile(join(dir.path, 'manifest.json')))
  } finally {
    await dir.remove()
  }
}

t.test('skopeo pulls from a token upstream and a no-auth upstream through one mirror', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t)
  const small = upstream.fixture.images.small!
  t.equal(await pulledDigest(`${mirror.host}/library/small:1`), small.digest, "the default upstream's image")
  t.equal(
    await pulledDigest(`${mirror.host}/${SECOND_NAME}/library/small:1`),
    second.fixture.small.digest,
    "the same name by the second upstream's prefix: that upstream's image",
  )
  t.not(second.fixture.small.digest, small.digest, 'two different images')
  t.notOk(
    upstream.tokens.requests.some((r) => r.scopes.some((s) => s.includes(SECOND_NAME))),
    "the first upstream's realm never heard of the second's repositories",
  )

  const secret = upstream.fixture.images.private!
  const creds = ['--src-creds', `${ALICE.user}:${ALICE.password}`]
  const before = upstream.tokens.requests.length
  t.equal(
    await pulledDigest(`${mirror.host}/docker.io/${secret.repo}:1`, creds),
    secret.digest,
    'a private image by the default upstream prefix, with credentials',
  )
  t.ok(
    upstream.tokens.requests
      .slice(before)
      .some((r) => r.user === ALICE.user && r.scopes.includes(`repository:${secret.repo}:pull`)),
    'the realm was asked for the repository as it knows it, without the registry prefix',
  )
})

t.test(
  'a token upstream that is not the default: its challenges name /token/<name>, its realm gets its names',
  async (t) => {
    const upstream = await startUpstream()
    t.teardown(() => upstream.close())
    const second = await startSecondUpstream()
    t.teardown(() => second.close())
    // The no-auth registry is the default here; the token one is known as registry.test.
    const mirror = await startMirror({
      upstream: second.registry.url,
      settings: { upstreamName: SECOND_NAME, upstreams: `registry.test=${upstream.registry.url}` },
    })
    t.teardown(() => mirror.close())

    // After a 200, Docker and skopeo never send credentials: the ping must send them to
    // the mirror's realm, which serves every upstream, or no private image of the token
    // upstream could be pulled.
    const defaultPing = await http(`${mirror.url}/v2/`)
    t.equal(defaultPing.status, 401, 'the ping announces a realm, though the default wants no auth')
    t.equal(findBearer(defaultPing.headers['www-authenticate'])?.realm, `${mirror.url}/token`)
    t.equal((await http(`${mirror.url}/v2/?ns=${SECOND_NAME}`)).status, 200, 'a ping naming the default: 200')
    const ping = await http(`${mirror.url}/v2/?ns=registry.test`)
    t.equal(ping.status, 401, "a ping naming the token upstream gets that upstream's challenge")
    t.equal(findBearer(ping.headers['www-authenticate'])?.realm, `${mirror.url}/token/registry.test`)

    const secret = upstream.fixture.images.private!
    const path = `/v2/registry.test/${secret.repo}/manifests/1`
    const anonymous = await http(`${mirror.url}${path}`, { headers: { accept: ACCEPT_ALL } })
    t.equal(anonymous.status, 401, 'a private repository challenges')
    const challenge = findBearer(anonymous.headers['www-authenticate'])!
    t.equal(challenge.realm, `${mirror.url}/token/registry.test`, 'naming the realm of that upstream, on the mirror')
    const scope = `repository:registry.test/${secret.repo}:pull`
    const tokenUrl = `${challenge.realm}?service=${challenge.service}&scope=${encodeURIComponent(scope)}`
    const answer = await json(tokenUrl, { authorization: basic(ALICE) })
    t.equal(answer.status, 200)
    t.match(upstream.tokens.requests.at(-1), { user: ALICE.user, scopes: [`repository:${secret.repo}:pull`] })
    const { token } = answer.body as { token: string }
    for (const url of [path, `/v2/${secret.repo}/manifests/1?ns=registry.test`]) {
      const pulled = await http(`${mirror.url}${url}`, { headers: { ...bearer(token), accept: ACCEPT_ALL } })
      t.equal(pulled.status, 200, url)
      t.equal(sha256(pulled.body), secret.digest)
    }
    const unknown = await http(`${mirror.url}/token/quay.io?scope=repository:x:pull`)
    t.equal(unknown.status, 404, 'a realm for a registry the mirror does not serve')
    t.match(JSON.parse(unknown.body.toString()), { errors: [{ code: 'NAME_UNKNOWN' }] })

    // As a client does it, from the ping on: skopeo with credentials pulls the private
    // image by the token upstream's prefix, and the default's public one without any.
    const dir = await makeTempDir('private-pull')
    t.teardown(dir.remove)
    await skopeoCopy(`${mirror.host}/registry.test/${secret.repo}:1`, join(dir.path, 'private'), [
      '--src-creds',
      `${ALICE.user}:${ALICE.password}`,
    ])
    t.equal(sha256(await readFile(join(dir.path, 'private', 'manifest.json'))), secret.digest, 'skopeo: private')
    const plain = second.fixture.small
    await skopeoCopy(`${mirror.host}/${plain.repo}:${plain.tag}`, join(dir.path, 'public'))
    t.equal(sha256(await readFile(join(dir.path, 'public', 'manifest.json'))), plain.digest, 'skopeo: public')
  },
)
