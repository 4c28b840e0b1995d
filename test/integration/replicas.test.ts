import t, { type Test } from 'tap'
import { connectRedis, firstConnection } from '../../src/cache/redis-connection.js'
import { silentLogger } from '../../src/logger.js'
import { download, http } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import { freePort } from '../helpers/ports.js'
import type { RedisServer } from '../helpers/redis.js'
import { startFaultProxy } from '../helpers/fault-proxy.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstreamAndRedis } from '../helpers/setup.js'
import type { Upstream } from '../helpers/upstream.js'

const SECRET = 'replicas-share-this-secret'

/** A replica on its own port and cache dir, sharing `redis`; `advertise` rewrites its address. */
async function replica(
  t: Test,
  upstream: Upstream,
  redis: RedisServer,
  advertise: (url: string) => Promise<string> = async (url) => url,
): Promise<RunningMirror> {
  const port = await freePort()
  const advertiseUrl = await advertise(`http://127.0.0.1:${port}`)
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    port,
    settings: { redisUrl: redis.url, advertiseUrl, peerSecret: SECRET },
  })
  t.teardown(() => mirror.close())
  return mirror
}

const blobGets = (upstream: Upstream, digest: string) =>
  upstream.registry.blobGets(digest).filter((e) => e.status === 200 || e.status === 206).length

t.test('three replicas pulling one cold image at once: each blob crosses from the upstream once', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  const replicas = [
    await replica(t, upstream, redis),
    await replica(t, upstream, redis),
    await replica(t, upstream, redis),
  ]
  const image = upstream.fixture.images.big!
  await Promise.all(
    replicas.map(async (r) => {
      const out = await makeTempDir('pull')
      t.teardown(out.remove)
      await skopeoCopy(`${r.host}/${image.repo}:1`, out.path)
      await verifyDirLayout(out.path)
    }),
  )
  for (const blob of image.blobs) t.equal(blobGets(upstream, blob.digest), 1, `${blob.size} bytes fetched once`)
  for (const r of replicas) await r.app.mirror.blobs.settled()
  for (const r of replicas) {
    for (const blob of image.blobs) t.ok(await r.app.store.stat(blob.digest), 'and every replica holds it')
  }
})

t.test('a second replica is served by its peer, not the upstream', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  const [a, b] = [await replica(t, upstream, redis), await replica(t, upstream, redis)]
  const image = upstream.fixture.images.small!
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${a.host}/${image.repo}:1`, out.path)
  await a.app.mirror.blobs.settled()
  const before = upstream.registry.blobGets().length
  await skopeoCopy(`${b.host}/${image.repo}:1`, out.path)
  await verifyDirLayout(out.path)
  t.equal(upstream.registry.blobGets().length, before, 'no blob fetched from the upstream again')
  t.match(
    (await http(`${b.url}/metrics`)).body.toString(),
    /^registry_mirror_sent_bytes_total\{source="peer",upstream="[^"]+"\} [1-9]/m,
  )
  t.ok(
    a.logs.some((l) => l.msg === 'request' && String(l.url).startsWith('/_peer/blobs/')),
    'a served its peer',
  )

  const stranger = await http(`${a.url}/_peer/blobs/${image.blobs[0]!.digest}`)
  t.equal(stranger.status, 403, 'the internal route is for peers only')
  const wrong = await http(`${a.url}/_peer/blobs/${image.blobs[0]!.digest}`, {
    headers: { 'x-registry-mirror-peer': 'not-the-secret-at-all' },
  })
  t.equal(wrong.status, 403)
})

t.test('a peer that fails mid-transfer is dropped and the rest comes from the upstream', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  const a = await replica(t, upstream, redis, async (url) => {
    const proxy = await startFaultProxy(url, upstream.storageDir)
    t.teardown(() => proxy.close())
    proxy.setFault({ kind: 'cut', afterBytes: 8 * 1024 * 1024 }, (method, path) => path.startsWith('/_peer/'))
    return proxy.url
  })
  const b = await replica(t, upstream, redis)
  const image = upstream.fixture.images.big!
  const layer = image.blobs.reduce((x, y) => (x.size > y.size ? x : y))
  t.equal((await download(`${a.url}/v2/${image.repo}/blobs/${layer.digest}`)).digest, layer.digest)
  await a.app.mirror.blobs.settled()

  const viaB = await download(`${b.url}/v2/${image.repo}/blobs/${layer.digest}`)
  t.equal(viaB.digest, layer.digest, "b's client got the whole blob, verified")
  t.ok(b.logs.some((l) => l.msg === 'peer failed mid-transfer; resuming from the upstream'))
  t.ok(
    upstream.registry.accessLog().some((e) => e.path.endsWith(layer.digest) && e.status === 206),
    'the rest came by a Range request',
  )
  await b.app.mirror.blobs.settled()
  t.ok(await b.app.store.stat(layer.digest), 'and b cached it')
})

t.test('a replica that is gone is not waited for', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  const [a, b] = [await replica(t, upstream, redis), await replica(t, upstream, redis)]
  const image = upstream.fixture.images.small!
  const layer = image.blobs.at(-1)!
  await download(`${a.url}/v2/${image.repo}/blobs/${layer.digest}`)
  await a.app.mirror.blobs.settled()
  // a stops answering but its heartbeat has not run out yet: b finds out by trying.
  a.app.server.server.closeAllConnections()
  await new Promise<void>((resolve) => a.app.server.server.close(() => resolve()))
  const started = Date.now()
  t.equal((await download(`${b.url}/v2/${image.repo}/blobs/${layer.digest}`)).digest, layer.digest)
  t.ok(Date.now() - started < 5000, 'quickly')
  t.equal(blobGets(upstream, layer.digest), 2, 'b fetched it from the upstream instead')
})

t.test('a replica opens one Redis connection for its index and its peers, and leaves before closing it', async (t) => {
  const { upstream, redis } = await startUpstreamAndRedis(t)
  const admin = connectRedis({ url: redis.url, timeoutMs: 1000, log: silentLogger })
  t.ok(await firstConnection(admin, 5000))
  t.teardown(() => admin.quit())
  const connections = async () =>
    String(await admin.call('CLIENT', 'LIST'))
      .trim()
      .split('\n').length - 1
  const a = await replica(t, upstream, redis)
  const announced = `${a.config.redisPrefix}{idx}:replica:${a.config.replica!.advertiseUrl}`
  t.equal(await connections(), 1, 'one connection')
  t.equal(await admin.exists(announced), 1, 'announced on it')
  await a.stop()
  t.equal(await admin.exists(announced), 0, 'it left the replicas before the index closed the connection')
  t.equal(await connections(), 0, 'and closed it')
})
