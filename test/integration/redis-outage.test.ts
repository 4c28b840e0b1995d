import { once } from 'node:events'
import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { reindex } from '../../src/cli/reindex.js'
import { connectRedis, firstConnection } from '../../src/cache/redis-connection.js'
import { silentLogger } from '../../src/logger.js'
import { download, http, sha256 } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import type { RedisServer } from '../helpers/redis.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startUpstreamAndRedis } from '../helpers/setup.js'
import type { Upstream } from '../helpers/upstream.js'
import { waitFor } from '../helpers/wait.js'

/** Waits until the index holds `count` blobs: the catch-up after an outage announces nothing. */
async function indexHolds(index: { stats(): Promise<{ blobs: number }> }, count: number): Promise<void> {
  const holds = async () => (await index.stats().catch(() => ({ blobs: -1 }))).blobs === count
  await waitFor(holds, 15_000, `an index of ${count} blobs`)
}

async function mirrorOn(t: Test, upstream: Upstream, redis: RedisServer) {
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { redisUrl: redis.url } })
  t.teardown(() => mirror.close())
  return mirror
}

/** The upstream, a private Redis, and a mirror indexing into it. */
async function redisStack(t: Test) {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  return { upstream, redis, mirror: await mirrorOn(t, upstream, redis) }
}

/** Pulls one layer of the small image through the mirror, checks it, and waits for its fill. */
async function pullLayer(t: Test, mirror: RunningMirror, upstream: Upstream): Promise<void> {
  const small = upstream.fixture.images.small!
  const layer = small.blobs[1]!
  t.equal((await download(`${mirror.url}/v2/${small.repo}/blobs/${layer.digest}`)).digest, layer.digest)
  await mirror.app.mirror.blobs.settled()
}

/**
 * Stands in for a Redis that is down: takes the port and closes each connection at once,
 * telling when the first attempt came.
 */
async function refuseConnections(port: number): Promise<{ tried: Promise<void>; close: () => Promise<void> }> {
  const server = createServer((socket) => socket.destroy())
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const tried = once(server, 'connection').then(() => {})
  return {
    tried,
    close: async () => {
      server.close()
      await once(server, 'close')
    },
  }
}

t.test('Redis dies mid-run: hits and misses go on; when it is back the index catches up', async (t) => {
  const { upstream, redis, mirror } = await redisStack(t)
  const small = upstream.fixture.images.small!
  const [first, second, third] = small.blobs.slice(1)
  const blob = (digest: string) => `${mirror.url}/v2/${small.repo}/blobs/${digest}`

  t.equal((await download(blob(first!.digest))).digest, first!.digest)
  await mirror.app.mirror.blobs.settled()
  await indexHolds(mirror.app.index, 1)

  await redis.kill()
  const started = Date.now()
  t.equal((await download(blob(first!.digest))).digest, first!.digest, 'a hit without Redis')
  t.equal((await download(blob(second!.digest))).digest, second!.digest, 'a miss without Redis')
  const manifest = await http(`${mirror.url}/v2/${small.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(sha256(manifest.body), small.digest, 'a manifest without Redis')
  t.ok(Date.now() - started < 5_000, 'no request waited long on Redis')
  await mirror.app.mirror.blobs.settled()
  t.ok(await mirror.app.store.stat(second!.digest), 'the miss was cached on disk all the same')
  t.equal((await http(`${mirror.url}/readyz`)).status, 200, 'still ready, index degraded')

  await redis.restart()
  await indexHolds(mirror.app.index, 3)
  t.ok(mirror.logs.some((l) => l.msg === 'Redis index reachable again'))
  const outages = mirror.logs.filter((l) => l.msg === 'Redis index unreachable; serving from disk without it')
  t.equal(outages.length, 1, 'the outage was logged once, not per request or per retry')
  // The records land before the catch-up logs its end: wait for the line, not the count.
  const reconciled = () => mirror.logs.some((l) => l.msg === 'index reconciled with the cache dir')
  await waitFor(reconciled, 15_000, 'the catch-up after Redis came back')
  t.ok(reconciled())
  t.equal((await download(blob(third!.digest))).digest, third!.digest)
})

t.test('FLUSHALL loses nothing on disk: reindex restores the records', async (t) => {
  const { upstream, redis, mirror } = await redisStack(t)
  const small = upstream.fixture.images.small!
  for (const b of small.blobs) await download(`${mirror.url}/v2/${small.repo}/blobs/${b.digest}`)
  await mirror.app.mirror.blobs.settled()
  const before = await mirror.app.index.stats()
  t.equal(before.blobs, small.blobs.length)

  const admin = connectRedis({ url: redis.url, timeoutMs: 1000, log: silentLogger })
  await firstConnection(admin, 5000)
  await admin.flushall()
  await admin.quit()
  t.same(await mirror.app.index.stats(), { blobs: 0, bytes: 0 })

  const report = await reindex(mirror.config, silentLogger)
  t.match(report, { dropped: 0, added: small.blobs.length, removed: 0, files: small.blobs.length })
  t.same(await mirror.app.index.stats(), before, 'every record is back')
})

t.test('a mirror starts while Redis is down, and serves', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  await redis.kill()
  const mirror = await mirrorOn(t, upstream, redis)
  await pullLayer(t, mirror, upstream)
  await redis.restart()
  await indexHolds(mirror.app.index, 1)
})

t.test('Redis that comes up while the mirror waits for it at start is taken in stride', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  await redis.kill()
  // The first connection fails; a retry succeeds while start-up still waits for it.
  const refusing = await refuseConnections(redis.port)
  const starting = mirrorOn(t, upstream, redis)
  await refusing.tried
  await refusing.close()
  await redis.restart()
  const mirror = await starting
  await pullLayer(t, mirror, upstream)
  await indexHolds(mirror.app.index, 1)
})
