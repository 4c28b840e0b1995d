// MIRROR_OFFLINE: the mirror never opens a connection upstream, serves what its cache
// holds (tags by their last mapping, however old), and answers the rest at once.
import t from 'tap'
import { ALICE, basic } from '../helpers/credentials.js'
import { http, sha256 } from '../helpers/http.js'
import { startMirror, withRedis } from '../helpers/mirror.js'
import { startRedis } from '../helpers/redis.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { startTcpListener } from '../helpers/tcp-listener.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

const DAY_MS = 24 * 60 * 60 * 1000
/** The bound for an answer about what the cache does not hold. */
const FAST_MS = 100

t.test('offline: cached images by tag and digest, the rest a fast 404, and no connection upstream', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const cache = await makeTempDir('cache')
  t.teardown(() => cache.remove())
  const redis = withRedis ? await startRedis() : undefined
  t.teardown(() => redis?.close())
  const shared = { upstreamName: 'docker.io', ...(redis === undefined ? {} : { redisUrl: redis.url }) }
  const small = upstream.fixture.images.small!
  const multi = upstream.fixture.images.multi!

  const online = await startMirror({ upstream: upstream.registry.url, cacheDir: cache.path, settings: shared })
  const warm = await makeTempDir('pull')
  t.teardown(warm.remove)
  await skopeoCopy(`${online.host}/${small.repo}:1`, warm.path)
  await skopeoCopy(`${online.host}/${multi.repo}:1`, warm.path, ['--all'])
  // The private repository's verdict is known: offline, it is still never served from the cache.
  await skopeoCopy(`${online.host}/private/alice/secret:1`, warm.path, [
    '--src-creds',
    `${ALICE.user}:${ALICE.password}`,
  ])
  await online.app.mirror.blobs.settled()
  await online.stop()

  // The upstream's address now counts connections; the mirror must open none. A day on,
  // every tag mapping and verdict is far past its TTL.
  const nowhere = await startTcpListener('drop')
  t.teardown(() => nowhere.close())
  const mirror = await startMirror({
    upstream: nowhere.url,
    cacheDir: cache.path,
    settings: { ...shared, offline: true },
    now: () => Date.now() + DAY_MS,
  })
  t.teardown(() => mirror.close())

  const ping = await http(`${mirror.url}/v2/`)
  t.equal(ping.status, 200, '/v2/ answers 200')
  t.equal(ping.headers['www-authenticate'], undefined, 'with no challenge: no upstream can issue tokens')

  for (const [name, reference] of [
    ['by tag', `${small.repo}:1`],
    ['by digest', `${small.repo}@${small.digest}`],
    ['with credentials sent anyway', `${small.repo}:1`],
  ] as const) {
    const out = await makeTempDir('pull')
    t.teardown(out.remove)
    const creds = name.startsWith('with') ? ['--src-creds', `${ALICE.user}:${ALICE.password}`] : []
    await skopeoCopy(`${mirror.host}/${reference}`, out.path, creds)
    const digests = await verifyDirLayout(out.path)
    t.ok(
      small.blobs.every((b) => digests.includes(b.digest)),
      `${name}: every blob, byte for byte`,
    )
  }
  const all = await makeTempDir('pull')
  t.teardown(all.remove)
  await skopeoCopy(`${mirror.host}/${multi.repo}:1`, all.path, ['--all'])
  const platforms = await verifyDirLayout(all.path)
  t.ok(
    multi.blobs.every((b) => platforms.includes(b.digest)),
    'a multi-platform image, every platform',
  )
  const manifest = await http(`${mirror.url}/v2/${small.repo}/manifests/${small.digest}`, {
    headers: { accept: ACCEPT_ALL, authorization: basic(ALICE) },
  })
  t.equal(sha256(manifest.body), small.digest, 'a raw client with Basic credentials is served the cache')

  const missing: Array<[string, string, number, string]> = [
    ['an unknown tag', `/v2/${small.repo}/manifests/2`, 404, 'MANIFEST_UNKNOWN'],
    ['an image never pulled', '/v2/library/big/manifests/1', 404, 'MANIFEST_UNKNOWN'],
    ['an uncached digest', `/v2/library/big/manifests/${upstream.fixture.images.big!.digest}`, 404, 'MANIFEST_UNKNOWN'],
    ['an uncached blob', `/v2/library/big/blobs/${upstream.fixture.images.big!.blobs[0]!.digest}`, 404, 'BLOB_UNKNOWN'],
    ['a private image', '/v2/private/alice/secret/manifests/1', 404, 'MANIFEST_UNKNOWN'],
    ['a tag list', `/v2/${small.repo}/tags/list`, 404, 'NAME_UNKNOWN'],
  ]
  for (const [what, path, status, code] of missing) {
    const started = performance.now()
    const answer = await http(`${mirror.url}${path}`, { headers: { accept: ACCEPT_ALL } })
    const ms = performance.now() - started
    t.equal(answer.status, status, `${what}: ${status}`)
    t.match(JSON.parse(answer.body.toString()), {
      errors: [{ code, message: /the mirror is offline for docker\.io/ }],
    })
    t.ok(ms < FAST_MS, `${what}: answered in ${ms.toFixed(1)} ms`)
  }
  t.match(
    JSON.parse((await http(`${mirror.url}/v2/${small.repo}/manifests/2`)).body.toString()),
    { errors: [{ message: /not in its cache/ }] },
    'the message says the content is not in the cache',
  )
  const secretLayer = upstream.fixture.images.private!.blobs.find((b) => small.blobs.some((s) => s.digest === b.digest))
  const layer = await http(`${mirror.url}/v2/private/alice/secret/blobs/${secretLayer!.digest}`)
  t.equal(layer.status, 404, "a private repository's layer is not served from the cache, though it holds it")

  const push = await http(`${mirror.url}/v2/${small.repo}/blobs/uploads/`, { method: 'POST' })
  t.equal(push.status, 405, 'a push is refused')
  t.match(JSON.parse(push.body.toString()), { errors: [{ code: 'UNSUPPORTED', message: /offline/ }] })
  const token = await http(`${mirror.url}/token?scope=repository:${small.repo}:pull`, {
    headers: { authorization: basic(ALICE) },
  })
  t.match(JSON.parse(token.body.toString()), { token: /^registry-mirror-local\./ }, 'credentials get a local token')

  const ready = await http(`${mirror.url}/readyz`)
  t.equal(ready.status, 200, '/readyz stays ready')
  const metrics = (await http(`${mirror.url}/metrics`)).body.toString()
  t.match(metrics, /registry_mirror_upstream_offline\{upstream="docker.io"\} 1/, 'the offline gauge')
  t.match(metrics, /registry_mirror_upstream_backoff\{upstream="docker.io"\} 0/, 'no backoff: nothing was tried')
  t.match(metrics, /registry_mirror_requests_total\{[^}]*cache="stale"[^}]*\} \d/, 'old tags served as stale')
  t.equal(nowhere.connections(), 0, 'not one connection to the upstream')
})
