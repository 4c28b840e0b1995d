import t from 'tap'
import { sha256 } from '../helpers/http.js'
import { rawGet } from '../helpers/raw-http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

t.test('percent-encoded digests, names and tags are read as a registry reads them', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const small = upstream.fixture.images.small!
  const blob = small.blobs[0]!
  const encode = (digest: string) => digest.replace(':', '%3A')
  const accept = { accept: ACCEPT_ALL }

  const byTag = await rawGet(mirror.url, `/v2/${small.repo}/manifests/%31`, accept)
  t.equal(byTag.status, 200, 'an encoded tag')
  t.equal(sha256(byTag.body), small.digest)

  for (const digest of [encode(small.digest), small.digest.replace(':', '%3a')]) {
    const manifest = await rawGet(mirror.url, `/v2/${small.repo}/manifests/${digest}`, accept)
    t.equal(manifest.status, 200, `a manifest by ${digest.slice(0, 9)}…`)
    t.equal(manifest.headers['docker-content-digest'], small.digest, 'under its digest, decoded')
    t.equal(sha256(manifest.body), small.digest)
  }
  for (const round of ['cold', 'cached']) {
    const layer = await rawGet(mirror.url, `/v2/${small.repo}/blobs/${encode(blob.digest)}`)
    t.equal(layer.status, 200, `a ${round} blob by an encoded digest`)
    t.equal(layer.headers['docker-content-digest'], blob.digest)
    t.equal(sha256(layer.body), blob.digest)
    await mirror.app.mirror.blobs.settled()
  }

  // Distribution decodes the path before its router sees it: an encoded slash in a name is a slash.
  const slashed = await rawGet(mirror.url, `/v2/library%2Fsmall/manifests/1`, accept)
  t.equal(slashed.status, 200, 'an encoded slash inside a name')
  t.equal(sha256(slashed.body), small.digest)

  const refused: Array<[string, string]> = [
    [`/v2/${small.repo}/manifests/1%zz`, 'TAG_INVALID'],
    [`/v2/${small.repo}/manifests/sha256%3A%zz`, 'DIGEST_INVALID'],
    [`/v2/${small.repo}/blobs/sha256%3A${'a'.repeat(63)}%`, 'DIGEST_INVALID'],
    [`/v2/${small.repo}/referrers/sha256%3A%C0%AF`, 'DIGEST_INVALID'],
    ['/v2/library/sm%zzall/manifests/1', 'NAME_INVALID'],
    ['/v2/library/..%2Fprivate%2Falice%2Fsecret/manifests/1', 'NAME_INVALID'],
    [`/v2/${small.repo}/manifests/sha256%3A${'A'.repeat(64)}`, 'DIGEST_INVALID'],
  ]
  for (const [target, code] of refused) {
    const answer = await rawGet(mirror.url, target)
    t.equal(answer.status, 400, `${target.slice(0, 60)}: 400`)
    t.match(JSON.parse(answer.body.toString()) as unknown, { errors: [{ code }] }, code)
  }
  t.equal(
    upstream.registry.accessLog().filter((e) => e.path.includes('private')).length,
    0,
    'no traversal reached the upstream',
  )
})
