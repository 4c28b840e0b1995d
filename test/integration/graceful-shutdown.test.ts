import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { Client, request } from 'undici'
import { cacheDirHolds } from '../helpers/cache-on-disk.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { download } from '../helpers/http.js'
import { withRedis } from '../helpers/mirror.js'
import { spawnMirror, type MirrorProcess } from '../helpers/mirror-process.js'
import { startRedis } from '../helpers/redis.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

const MiB = 1024 * 1024
const upstream = await startUpstream()
t.teardown(() => upstream.close())
const blob = upstream.fixture.images.big!.blobs.reduce((a, b) => (a.size > b.size ? a : b))
const blobPath = `/v2/library/big/blobs/${blob.digest}`

/**
 * A fault proxy slowing blob bodies to `bytesPerSecond`, and the mirror in its own process
 * behind it (on a private Redis when the suite runs with MIRROR_TEST_INDEX=redis).
 */
async function slowMirror(
  t: Test,
  bytesPerSecond: number,
  graceSeconds: number,
): Promise<{ proxy: FaultProxy; mirror: MirrorProcess; holds: () => ReturnType<typeof cacheDirHolds> }> {
  const proxy = await startFaultProxy(upstream.registry.url, upstream.storageDir)
  t.teardown(() => proxy.close())
  proxy.setFault({ kind: 'throttle', bytesPerSecond })
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)
  const redis = withRedis ? await startRedis() : undefined
  if (redis !== undefined) t.teardown(() => redis.close())
  const mirror = await spawnMirror([
    ...(redis === undefined ? [] : ['--redis-url', redis.url]),
    '--upstream',
    proxy.url,
    '--cache-dir',
    cache.path,
    '--shutdown-grace',
    String(graceSeconds),
  ])
  t.teardown(() => mirror.service.kill())
  return { proxy, mirror, holds: () => cacheDirHolds(cache.path, blob.digest, redis?.url) }
}

/** The mirror's JSON log lines so far. */
function logLines(mirror: MirrorProcess): Array<{ msg: string; time: number }> {
  return mirror.service
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; time: number })
}

/** Everything a raw connection receives until the server closes it. */
function rawConnection(port: number): { socket: Socket; received: Promise<Buffer> } {
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  return { socket, received: once(socket, 'close').then(() => Buffer.concat(chunks)) }
}

/** The first response on a connection (headers and its Content-Length of body), and what came after. */
function firstResponse(data: Buffer): { head: string; body: Buffer; after: string } {
  const end = data.indexOf('\r\n\r\n')
  const head = data.subarray(0, end).toString()
  const length = Number(/content-length: (\d+)/i.exec(head)?.[1])
  const body = data.subarray(end + 4, end + 4 + length)
  return { head, body, after: data.subarray(end + 4 + length).toString() }
}

t.test(
  'on SIGTERM a transfer in flight finishes within the grace period, is cached, and the process exits 0',
  async (t) => {
    const { proxy, mirror, holds } = await slowMirror(t, 16 * MiB, 60)
    const idle = new Client(mirror.url)
    t.teardown(() => idle.destroy())
    await (await idle.request({ method: 'GET', path: '/healthz' })).body.dump()
    const idleClosed = once(idle, 'disconnect')

    const raw = rawConnection(mirror.port)
    raw.socket.write(`GET ${blobPath} HTTP/1.1\r\nHost: mirror\r\n\r\n`)
    await proxy.forwarded(4 * MiB)
    // Another client of the same blob, on a connection it keeps alive after the response.
    const kept = download(`${mirror.url}${blobPath}`)
    await proxy.forwarded(8 * MiB)
    mirror.service.proc.kill('SIGTERM')
    await idleClosed
    t.pass('a kept-alive connection with nothing in flight is closed at once')
    await t.rejects(request(`${mirror.url}/v2/`), { code: 'ECONNREFUSED' }, 'new connections are refused')
    // Pipelined behind the transfer on its kept-alive connection, it arrives while closing.
    raw.socket.write('GET /v2/ HTTP/1.1\r\nHost: mirror\r\n\r\n')

    const { head, body, after } = firstResponse(await raw.received)
    t.match(head, /^HTTP\/1\.1 200 /)
    t.equal(body.length, blob.size, 'the whole blob')
    t.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, blob.digest)
    t.match(after, /^HTTP\/1\.1 503 /, 'a request arriving while closing gets a 503')
    t.match(after, /\r\nconnection: close\r\n/i, 'and the connection closes after it')
    t.match(
      after,
      /\r\n\r\n\{"errors":\[\{"code":"UNAVAILABLE","message":"the mirror is shutting down"\}\]\}$/,
      'in the OCI format',
    )

    t.equal((await kept).digest, blob.digest, 'the other client got the whole blob too')
    t.same(await mirror.exited(), { code: 0, signal: null }, 'exit 0')
    const lines = logLines(mirror)
    const lastRequest = Math.max(...lines.filter((l) => l.msg === 'request').map((l) => l.time))
    const stopped = lines.find((l) => l.msg === 'stopped')?.time ?? Infinity
    t.ok(
      stopped - lastRequest < 2000,
      `stopped ${stopped - lastRequest} ms after the last transfer: its kept-alive connection was closed`,
    )
    t.same(await holds(), { file: true, indexed: true, temps: [] }, 'cached and indexed')
  },
)

t.test('a download into the cache whose client has left is finished within the grace period too', async (t) => {
  const { proxy, mirror, holds } = await slowMirror(t, 16 * MiB, 60)
  const raw = rawConnection(mirror.port)
  raw.socket.write(`GET ${blobPath} HTTP/1.1\r\nHost: mirror\r\n\r\n`)
  await proxy.forwarded(4 * MiB)
  raw.socket.destroy()
  await raw.received
  mirror.service.proc.kill('SIGTERM')
  t.same(await mirror.exited(), { code: 0, signal: null }, 'exit 0')
  t.same(await holds(), { file: true, indexed: true, temps: [] }, 'the blob was cached before the exit')
})

t.test('past a short grace period the transfer is cut, its fill aborted, nothing partial kept, exit 0', async (t) => {
  const { proxy, mirror, holds } = await slowMirror(t, 2 * MiB, 1)
  const pending = download(`${mirror.url}${blobPath}`)
  await proxy.forwarded(4 * MiB)
  mirror.service.proc.kill('SIGTERM')
  t.same(await mirror.exited(), { code: 0, signal: null }, 'exit 0')
  const lines = logLines(mirror)
  const took =
    (lines.find((l) => l.msg === 'stopped')?.time ?? 0) - (lines.find((l) => l.msg === 'shutting down')?.time ?? 0)
  t.ok(took >= 1000 && took < 3000, `stopped once the grace period was over (${took} ms)`)
  const cut = await pending
  t.ok(cut.error, 'the client saw the transfer cut, not a clean short body')
  t.ok(cut.bytes < blob.size)
  t.same(await holds(), { file: false, indexed: false, temps: [] }, 'nothing kept')
  t.match(mirror.service.stdout(), /grace period over/)
})

t.test('a second signal exits at once', async (t) => {
  const { proxy, mirror } = await slowMirror(t, 2 * MiB, 60)
  const pending = download(`${mirror.url}${blobPath}`)
  await proxy.forwarded(4 * MiB)
  const shuttingDown = mirror.nextLog(/"shutting down"/)
  const signalled = Date.now()
  mirror.service.proc.kill('SIGTERM')
  await shuttingDown
  mirror.service.proc.kill('SIGINT')
  t.same(await mirror.exited(), { code: 1, signal: null }, 'exit 1: it did not stop cleanly')
  t.ok(Date.now() - signalled < 5000, 'long before the 60 s grace period')
  t.ok((await pending).error, 'the transfer was cut')
})
