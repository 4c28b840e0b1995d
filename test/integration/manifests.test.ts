import t from 'tap'
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../helpers/oci-layout.js'
import { http, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL, SEED_PASSWORD, SEED_USER } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { skopeo } from '../helpers/skopeo.js'

t.test('manifests: exact bytes and the headers clients rely on', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.small!
  const url = `${mirror.url}/v2/${image.repo}/manifests/${image.tag}`

  const get = await http(url, { headers: { accept: ACCEPT_ALL } })
  t.equal(get.status, 200)
  t.equal(sha256(get.body), image.digest, 'the exact upstream bytes')
  t.equal(get.headers['content-type'], image.mediaType)
  t.equal(get.headers['content-length'], String(image.size))
  t.equal(get.headers['docker-content-digest'], image.digest)
  t.equal(get.headers.etag, `"${image.digest}"`)
  t.equal(get.headers['docker-distribution-api-version'], 'registry/2.0')

  const head = await http(url, { method: 'HEAD', headers: { accept: ACCEPT_ALL } })
  t.equal(head.status, 200)
  t.equal(head.headers['docker-content-digest'], image.digest, 'HEAD carries the digest')
  t.equal(head.headers['content-length'], String(image.size), 'and the length, so containerd trusts it')
  t.equal(head.body.length, 0)

  const byDigest = await http(`${mirror.url}/v2/${image.repo}/manifests/${image.digest}`)
  t.equal(byDigest.status, 200)
  t.equal(sha256(byDigest.body), image.digest)
  t.equal(byDigest.headers['content-type'], image.mediaType, 'media type remembered for digest requests')

  const notModified = await http(url, { headers: { accept: ACCEPT_ALL, 'if-none-match': `"${image.digest}"` } })
  t.equal(notModified.status, 304)

  const withNs = await http(`${url}?ns=${mirror.config.upstream.name}`, { headers: { accept: ACCEPT_ALL } })
  t.equal(withNs.status, 200, "containerd's ?ns= naming the upstream")
  t.equal(sha256(withNs.body), image.digest)

  const missing = await http(`${mirror.url}/v2/${image.repo}/manifests/no-such-tag`, {
    headers: { accept: ACCEPT_ALL },
  })
  t.equal(missing.status, 404)
  t.match(JSON.parse(missing.body.toString()), { errors: [{ code: 'MANIFEST_UNKNOWN' }] })
  const missingHead = await http(`${mirror.url}/v2/${image.repo}/manifests/no-such-tag`, { method: 'HEAD' })
  t.equal(missingHead.status, 404)
})

t.test('a tag means a list to a client that accepts lists, and one platform to one that does not', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.dlist!
  const amd64 = image.children.find((c) => c.platform?.architecture === 'amd64')!
  const url = `${mirror.url}/v2/${image.repo}/manifests/${image.tag}`
  const modern = { accept: [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX].join(', ') }
  const old = { accept: DOCKER_MANIFEST }

  for (let round = 1; round <= 2; round++) {
    const list = await http(url, { headers: modern })
    t.equal(list.headers['docker-content-digest'], image.digest, `round ${round}: list for a list-aware client`)
    t.equal(list.headers['content-type'], DOCKER_LIST)
    const single = await http(url, { headers: old })
    t.equal(single.headers['docker-content-digest'], amd64.digest, `round ${round}: linux/amd64 for an old client`)
    t.equal(single.headers['content-type'], DOCKER_MANIFEST)
    t.equal(sha256(single.body), amd64.digest)
    const singleHead = await http(url, { method: 'HEAD', headers: old })
    t.equal(singleHead.headers['docker-content-digest'], amd64.digest)
  }
  const tagGets = upstream.registry
    .accessLog()
    .filter((e) => e.method === 'GET' && e.path === `/v2/${image.repo}/manifests/1` && e.status === 200)
  t.equal(tagGets.length, 2, 'one upstream fetch per kind of client; the second round came from the cache')
})

t.test('a HEAD on an uncached tag asks the upstream with a HEAD, not a GET', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.multi!
  const head = await http(`${mirror.url}/v2/${image.repo}/manifests/1`, {
    method: 'HEAD',
    headers: { accept: ACCEPT_ALL },
  })
  t.equal(head.headers['docker-content-digest'], image.digest)
  t.equal(head.headers['content-length'], String(image.size))
  const asked = upstream.registry
    .accessLog()
    .filter((e) => e.path === `/v2/${image.repo}/manifests/1` && e.status === 200)
  t.notOk(
    asked.some((e) => e.method === 'GET'),
    'only HEADs: the access check and the tag',
  )
  const get = await http(`${mirror.url}/v2/${image.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(sha256(get.body), image.digest, 'a later GET gets the body by digest')
})

t.test('tags are re-checked with a HEAD after the TTL, and served stale when the upstream is down', async (t) => {
  const { upstream, mirror } = await startStack(t, { settings: { tagTtl: 0 } })
  const image = upstream.fixture.images.small!
  const url = `${mirror.url}/v2/${image.repo}/manifests/1`
  const tagRequests = () =>
    upstream.registry.accessLog().filter((e) => e.path === `/v2/${image.repo}/manifests/1` && e.status === 200)
  t.equal((await http(url, { headers: { accept: ACCEPT_ALL } })).status, 200)
  const before = tagRequests().length
  const second = await http(url, { headers: { accept: ACCEPT_ALL } })
  t.equal(second.status, 200)
  t.same(
    tagRequests()
      .slice(before)
      .map((e) => e.method),
    ['HEAD'],
    'the second request re-checked the tag with a HEAD only',
  )
  t.match(
    mirror.logs.findLast((l) => l.msg === 'request'),
    { outcome: 'revalidated' },
  )

  await upstream.stopRegistry()
  const stale = await http(url, { headers: { accept: ACCEPT_ALL } })
  t.equal(stale.status, 200, 'stale-if-error')
  t.equal(sha256(stale.body), image.digest, 'and still the right bytes')
  t.match(
    mirror.logs.findLast((l) => l.msg === 'request'),
    { outcome: 'stale' },
  )
  const staleHead = await http(url, { method: 'HEAD', headers: { accept: ACCEPT_ALL } })
  t.equal(staleHead.headers['docker-content-digest'], image.digest)

  const unknown = await http(`${mirror.url}/v2/${image.repo}/manifests/never-seen`, { headers: { accept: ACCEPT_ALL } })
  t.equal(unknown.status, 503, 'a tag never seen cannot be served while the upstream is down')
  t.match(JSON.parse(unknown.body.toString()), { errors: [{ code: 'UNAVAILABLE' }] })
  await upstream.restartRegistry()
})

t.test('a tag moved upstream is seen after the TTL, and both digests stay servable', async (t) => {
  const { upstream, mirror } = await startStack(t, { settings: { tagTtl: 0 } })
  const small = upstream.fixture.images.small!
  const other = upstream.fixture.images.docker2!
  const url = `${mirror.url}/v2/${small.repo}/manifests/moving`
  const host = upstream.registry.url.slice('http://'.length)
  const retag = (from: string) =>
    skopeo([
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--preserve-digests',
      '--src-creds',
      `${SEED_USER}:${SEED_PASSWORD}`,
      '--dest-creds',
      `${SEED_USER}:${SEED_PASSWORD}`,
      `docker://${host}/${from}:1`,
      `docker://${host}/${small.repo}:moving`,
    ])
  await retag(small.repo)
  t.equal((await http(url, { headers: { accept: ACCEPT_ALL } })).headers['docker-content-digest'], small.digest)
  await retag(other.repo)
  const moved = await http(url, { headers: { accept: ACCEPT_ALL } })
  t.equal(moved.headers['docker-content-digest'], other.digest, 'the new digest')
  t.equal(sha256(moved.body), other.digest)
  const old = await http(`${mirror.url}/v2/${small.repo}/manifests/${small.digest}`)
  t.equal(sha256(old.body), small.digest, 'the old manifest is still there by digest')
})
