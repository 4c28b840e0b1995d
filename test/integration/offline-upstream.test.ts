// An upstream configured offline is never contacted: what the cache holds of it is
// served, what it does not hold is unknown, and writes are refused.
import t from 'tap'
import { http, sha256 } from '../helpers/http.js'
import { startMirror } from '../helpers/mirror.js'
import { startRedis } from '../helpers/redis.js'
import { settledAccessLog } from '../helpers/registry.js'
import { SECOND_NAME, startSecondUpstream } from '../helpers/second-upstream.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

t.test('an offline upstream: its cached images are served, nothing else, and it is never asked', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const second = await startSecondUpstream()
  t.teardown(() => second.close())
  const cache = await makeTempDir('cache')
  t.teardown(() => cache.remove())
  // The second mirror must find the first one's index: one Redis for both when the suite runs on Redis.
  const redis = process.env.MIRROR_TEST_INDEX === 'redis' ? await startRedis() : undefined
  t.teardown(() => redis?.close())
  const settings = (offline: boolean) => ({
    upstreamName: 'docker.io',
    upstreams: [{ name: SECOND_NAME, url: second.registry.url, offline }],
    ...(redis === undefined ? {} : { redisUrl: redis.url }),
  })

  const online = await startMirror({ upstream: upstream.registry.url, cacheDir: cache.path, settings: settings(false) })
  const image = second.fixture.small
  const manifest = `/v2/${SECOND_NAME}/${image.repo}/manifests/1`
  const blob = (digest: string) => `/v2/${SECOND_NAME}/${image.repo}/blobs/${digest}`
  t.equal((await http(`${online.url}${manifest}`, { headers: { accept: ACCEPT_ALL } })).status, 200)
  const cachedBlob = image.blobs[0]!
  t.equal(sha256((await http(`${online.url}${blob(cachedBlob.digest)}`)).body), cachedBlob.digest)
  await online.app.mirror.blobs.settled()
  await online.close()

  const mirror = await startMirror({ upstream: upstream.registry.url, cacheDir: cache.path, settings: settings(true) })
  t.teardown(() => mirror.close())
  const before = (await settledAccessLog(second.registry)).length

  const served = await http(`${mirror.url}${manifest}`, { headers: { accept: ACCEPT_ALL } })
  t.equal(served.status, 200, 'a cached tag is served')
  t.equal(sha256(served.body), image.digest)
  t.equal(sha256((await http(`${mirror.url}${blob(cachedBlob.digest)}`)).body), cachedBlob.digest, 'a cached blob')
  const head = await http(`${mirror.url}${blob(cachedBlob.digest)}`, { method: 'HEAD' })
  t.equal(head.status, 200, 'a blob HEAD from the cache')

  const missing: Array<[string, number, string]> = [
    [`/v2/${SECOND_NAME}/${image.repo}/manifests/2`, 404, 'MANIFEST_UNKNOWN'],
    [blob(image.blobs[1]!.digest), 404, 'BLOB_UNKNOWN'],
    [`/v2/${SECOND_NAME}/${image.repo}/tags/list`, 404, 'NAME_UNKNOWN'],
  ]
  for (const [path, status, code] of missing) {
    const answer = await http(`${mirror.url}${path}`, { headers: { accept: ACCEPT_ALL } })
    t.equal(answer.status, status, path)
    t.match(JSON.parse(answer.body.toString()), {
      errors: [{ code, message: new RegExp(`the mirror is offline for ${SECOND_NAME}`) }],
    })
  }
  const push = await http(`${mirror.url}/v2/${SECOND_NAME}/${image.repo}/blobs/uploads/`, { method: 'POST' })
  t.equal(push.status, 405, 'a push is refused')
  t.match(JSON.parse(push.body.toString()), { errors: [{ code: 'UNSUPPORTED' }] })
  const token = await http(`${mirror.url}/token/${SECOND_NAME}?scope=repository:${image.repo}:pull`)
  t.match(JSON.parse(token.body.toString()), { token: /^registry-mirror-local\./ }, 'an anonymous token is local')

  t.equal((await settledAccessLog(second.registry)).length, before, 'the offline upstream was never asked')
  const other = await http(`${mirror.url}/v2/library/small/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(sha256(other.body), upstream.fixture.images.small!.digest, 'the other upstream is served as ever')
})
