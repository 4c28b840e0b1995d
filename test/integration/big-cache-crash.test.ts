// A mirror killed while it reconciles its index with a cache of 20,000 blobs loses
// nothing: the next start walks the cache dir again. A clean shutdown leaves a marker, and
// the start after it restores the index without walking.
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { describeBlob, makeCache } from '../../bench/make-cache.js'
import { entry } from '../helpers/cli.js'
import { download, http, json } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { startService } from '../helpers/service-process.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitFor } from '../helpers/wait.js'

const COUNT = 20_000
const root = fileURLToPath(new URL('../..', import.meta.url))

/** The integration suite's second run uses Redis (test/helpers/mirror.ts); so does this test then. */
const withRedis = process.env.MIRROR_TEST_INDEX === 'redis'

/** The real entry point in its own process, so it can die the way processes die. */
async function spawnMirror(upstream: string, cacheDir: string, redis: RedisServer | undefined) {
  const port = await freePort()
  const args = entry(['--upstream', upstream, '--cache-dir', cacheDir])
  if (redis !== undefined) args.push('--redis-url', redis.url)
  const service = await startService(process.execPath, [...args, '--listen', `127.0.0.1:${port}`], {
    cwd: root,
    ready: /registry mirror ready/,
  })
  const url = `http://127.0.0.1:${port}`
  const reconcile = async () => ((await json(`${url}/readyz`)).body as { reconcile: string }).reconcile
  const blobs = async () => {
    const text = (await http(`${url}/metrics`)).body.toString()
    return Number(/^registry_mirror_cache_blobs (\d+)/m.exec(text)?.[1])
  }
  return { url, service, reconcile, blobs, done: () => waitFor(async () => (await reconcile()) === 'done', 60_000) }
}

t.test('a crash during reconciliation, then a restart, loses nothing', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const cache = await makeTempDir('big-cache')
  t.teardown(cache.remove)
  await makeCache(cache.path, COUNT)
  const redis = withRedis ? await startRedis() : undefined
  t.teardown(() => redis?.close())
  const marker = join(cache.path, 'index', 'clean-shutdown.json')

  const first = await spawnMirror(upstream.registry.url, cache.path, redis)
  t.teardown(() => first.service.kill())
  await first.done()
  const real = upstream.fixture.images.small!.blobs[1]!
  t.equal((await download(`${first.url}/v2/library/small/blobs/${real.digest}`)).digest, real.digest)
  // The client may have its bytes a moment before the file is renamed into place.
  const hex = real.digest.slice('sha256:'.length)
  const filled = join(cache.path, 'blobs', 'sha256', hex.slice(0, 2), hex)
  await waitFor(
    () =>
      access(filled).then(
        () => true,
        () => false,
      ),
    10_000,
    'the filled blob on disk',
  )
  await first.service.kill()
  await t.rejects(access(marker), 'no marker after a crash')

  const second = await spawnMirror(upstream.registry.url, cache.path, redis)
  t.teardown(() => second.service.kill())
  t.equal(await second.reconcile(), 'running', 'no marker: it walks the cache dir, and serves meanwhile')
  const cached = describeBlob(1, COUNT)
  t.equal((await download(`${second.url}/v2/library/small/blobs/${cached.digest}`)).digest, cached.digest)
  await second.service.kill()

  const third = await spawnMirror(upstream.registry.url, cache.path, redis)
  t.teardown(() => third.service.close())
  await third.done()
  t.equal(await third.blobs(), COUNT + 1, 'every file indexed, the one filled before the crash too')
  await third.service.close()
  await access(marker)

  const fourth = await spawnMirror(upstream.registry.url, cache.path, redis)
  t.teardown(() => fourth.service.close())
  await fourth.done()
  t.equal(await fourth.blobs(), COUNT + 1, 'restored as kept at the clean shutdown')
  t.match(fourth.service.stdout(), /index restored as kept at shutdown/)
  t.notMatch(fourth.service.stdout(), /reconciling the index with the cache dir/, 'no walk')
  await t.rejects(access(marker), 'the marker is used up at start')
})
