import { execFile } from 'node:child_process'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { referencesTo, releaseBytes, SegmentPool } from '../../src/buffers/segment-pool.js'
import { Http1ProtocolError, Http1SocketClosedError, Http1TimeoutError } from '../../src/upstream/http1/errors.js'
import type { PooledBody, PooledResponse } from '../../src/upstream/http1/pooled-body.js'
import { PooledTransport } from '../../src/upstream/http1/pooled-transport.js'
import { RedirectRefusedError } from '../../src/upstream/redirect-policy.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const run = promisify(execFile)
const SEGMENT = 256 * 1024

type Handler = (req: IncomingMessage, res: ServerResponse) => void

async function listen(server: Server, t: Test): Promise<string> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return `127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** An HTTP server counting the connections it accepts. */
async function serve(t: Test, handler: Handler) {
  const server = createServer(handler)
  let connections = 0
  server.on('connection', () => connections++)
  const host = await listen(server, t)
  return { url: `http://${host}`, server, connections: () => connections }
}

function transport(t: Test, options: Partial<ConstructorParameters<typeof PooledTransport>[0]> = {}) {
  const segments = new SegmentPool(SEGMENT, 64)
  const pooled = new PooledTransport({
    segments,
    connectTimeoutMs: 2000,
    timeoutMs: 2000,
    maxRedirects: 5,
    ...options,
  })
  t.teardown(() => pooled.close())
  return { pooled, segments }
}

/** The client sockets opened from now on (net's diagnostics channel announces each). */
function clientSockets(t: Test): Socket[] {
  const sockets: Socket[] = []
  const opened = (message: unknown) => sockets.push((message as { socket: Socket }).socket)
  subscribe('net.client.socket', opened)
  t.teardown(() => unsubscribe('net.client.socket', opened))
  return sockets
}

/** Resolves once a paused body holds as much as it asks for (its high-water mark). */
function full(body: PooledBody): Promise<void> {
  return new Promise((resolve) => {
    // A 'readable' listener is told of each push while the buffer is under the mark.
    const check = () => {
      if (body.readableLength < body.readableHighWaterMark) return
      body.off('readable', check)
      resolve()
    }
    body.on('readable', check)
  })
}

/** A GET the transport must answer itself. */
async function respond(pooled: PooledTransport, ...args: Parameters<PooledTransport['get']>): Promise<PooledResponse> {
  const result = await pooled.get(...args)
  if (result.kind !== 'response') throw new Error(`handed over: ${result.reason}`)
  return result
}

/**
 * Reads a body whole, holding every chunk (no copies) until the end and only then
 * releasing them, as a fill does: a later read landing on bytes still held would show.
 */
async function drain(body: PooledBody): Promise<{ bytes: Buffer; pooledChunks: number }> {
  const chunks: Buffer[] = []
  let pooledChunks = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (referencesTo(chunk) > 0) pooledChunks++
      chunks.push(chunk)
    }
    return { bytes: Buffer.concat(chunks), pooledChunks }
  } finally {
    chunks.forEach(releaseBytes)
  }
}

const content = Buffer.alloc(3 * 1024 * 1024 + 17)
for (let i = 0; i < content.length; i++) content[i] = (i * 7) % 251

t.test('a Content-Length body arrives whole, in pooled segments that go back when released', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(content.length), 'docker-content-digest': 'sha256:x' }).end(content)
  })
  const { pooled, segments } = transport(t)
  const response = await respond(pooled, new URL(`${url}/blob`), { 'user-agent': 'test' })
  t.equal(response.status, 200)
  t.equal(response.headers['docker-content-digest'], 'sha256:x')
  const { bytes, pooledChunks } = await drain(response.body)
  t.ok(bytes.equals(content), 'byte-exact')
  t.ok(pooledChunks > 0, 'chunks are views of pooled segments')
  t.ok(segments.idle > 0, 'released segments are back in the pool')
})

t.test('connections are kept alive and reused, and a stale one is replaced', async (t) => {
  const { url, server, connections } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '5' }).end('hello')
  })
  const { pooled } = transport(t)
  const opened = clientSockets(t)
  for (let i = 0; i < 3; i++) {
    const { bytes } = await drain((await respond(pooled, new URL(`${url}/x`), {})).body)
    t.equal(bytes.toString(), 'hello')
  }
  t.equal(connections(), 1, 'one connection for three requests')
  t.equal(opened.length, 1)
  // The server drops its idle connections, as servers do after their keep-alive timeout.
  const closed = once(opened[0]!, 'close')
  server.closeIdleConnections()
  await closed
  const { bytes } = await drain((await respond(pooled, new URL(`${url}/x`), {})).body)
  t.equal(bytes.toString(), 'hello', 'answered on a new connection')
  t.equal(connections(), 2)
})

t.test('a body framed otherwise (chunked) is left to the general client', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200)
    res.write('part one')
    res.end('part two')
  })
  const { pooled } = transport(t)
  t.same(await pooled.get(new URL(`${url}/chunked`), {}), { kind: 'unsupported', reason: 'framing' })
})

t.test('redirects are followed; Authorization goes only to the same origin', async (t) => {
  const seen: Array<{ host: string; path: string; authorization: string | undefined }> = []
  const record = (req: IncomingMessage, host: string) =>
    seen.push({ host, path: req.url!, authorization: req.headers.authorization })
  const cdn = await serve(t, (req, res) => {
    record(req, 'cdn')
    res.writeHead(200, { 'content-length': '4' }).end('blob')
  })
  const origin = await serve(t, (req, res) => {
    record(req, 'origin')
    if (req.url === '/start') res.writeHead(307, { location: '/moved', 'content-length': '0' }).end()
    else res.writeHead(307, { location: `${cdn.url}/signed?x=1` }).end('see the cdn')
  })
  const { pooled } = transport(t)
  const response = await respond(pooled, new URL(`${origin.url}/start`), { authorization: 'Bearer secret' })
  t.equal((await drain(response.body)).bytes.toString(), 'blob')
  t.same(seen, [
    { host: 'origin', path: '/start', authorization: 'Bearer secret' },
    { host: 'origin', path: '/moved', authorization: 'Bearer secret' },
    { host: 'cdn', path: '/signed?x=1', authorization: undefined },
  ])
})

t.test('a chain longer than the limit is handed back to the general client', async (t) => {
  const { url } = await serve(t, (req, res) => res.writeHead(302, { location: `${req.url!}/further` }).end())
  const { pooled } = transport(t, { maxRedirects: 2 })
  t.same(await pooled.get(new URL(`${url}/go`), {}), { kind: 'unsupported', reason: 'redirect-limit' })
})

t.test('a redirect loop is refused', async (t) => {
  const { url } = await serve(t, (_req, res) => res.writeHead(302, { location: '/again' }).end())
  const { pooled } = transport(t)
  await t.rejects(pooled.get(new URL(`${url}/go`), {}), RedirectRefusedError)
})

t.test('an error status comes back with its body', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    const body = '{"errors":[{"code":"BLOB_UNKNOWN"}]}'
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body)
  })
  const { pooled } = transport(t)
  const response = await respond(pooled, new URL(`${url}/missing`), {})
  t.equal(response.status, 404)
  t.match((await drain(response.body)).bytes.toString(), /BLOB_UNKNOWN/)
})

t.test('an upstream that drops the connection mid-body fails the body', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(content.length) })
    res.write(content.subarray(0, 100_000), () => res.socket?.destroy())
  })
  const { pooled } = transport(t)
  const response = await respond(pooled, new URL(`${url}/cut`), {})
  await t.rejects(drain(response.body), Http1SocketClosedError)
})

t.test('silence past the timeout fails the request', async (t) => {
  const { url } = await serve(t, () => {})
  const { pooled } = transport(t, { timeoutMs: 200 })
  await t.rejects(pooled.get(new URL(`${url}/silent`), {}), Http1TimeoutError)
})

t.test('a refused connection fails with its own code', async (t) => {
  const { url, server } = await serve(t, () => {})
  server.close()
  await once(server, 'close')
  const { pooled } = transport(t)
  await t.rejects(pooled.get(new URL(`${url}/x`), {}), { code: 'ECONNREFUSED' })
})

t.test('an abort ends the body with an AbortError and the connection with it', async (t) => {
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(content.length) })
    res.write(content.subarray(0, 1000))
  })
  const { pooled } = transport(t)
  const controller = new AbortController()
  const response = await respond(pooled, new URL(`${url}/slow`), {}, controller.signal)
  const chunks = response.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const first = await chunks.next()
  t.equal(first.done, false, 'the first bytes arrived')
  releaseBytes(first.value as Buffer)
  controller.abort()
  await t.rejects(chunks.next(), { name: 'AbortError' })
})

t.test('a slow reader holds the socket back instead of buffering the body', async (t) => {
  const { url } = await serve(t, (req, res) => {
    if (req.url === '/ping') res.writeHead(200, { 'content-length': '4' }).end('pong')
    else res.writeHead(200, { 'content-length': String(content.length) }).end(content)
  })
  const { pooled, segments } = transport(t)
  const response = await respond(pooled, new URL(`${url}/big`), {})
  await full(response.body)
  // A round trip on another connection: the rest of the body has reached this side's
  // socket meanwhile, and a socket still being read would have taken it in.
  t.equal((await drain((await respond(pooled, new URL(`${url}/ping`), {})).body)).bytes.toString(), 'pong')
  t.ok(response.body.readableLength <= 2 * 1024 * 1024, `buffered ${response.body.readableLength} bytes`)
  t.ok((await drain(response.body)).bytes.equals(content))
  t.ok(segments.idle > 0)
})

/** A raw server that answers every request with `reply`. */
async function rawServer(t: Test, reply: string) {
  const server = createNetServer((socket) => socket.once('data', () => socket.end(reply)))
  return `http://${await listen(server, t)}`
}

t.test('protocol violations are errors, not responses', async (t) => {
  const { pooled } = transport(t)
  const garbled = await rawServer(t, 'HTTP/9 200 Whatever\r\n\r\n')
  await t.rejects(pooled.get(new URL(`${garbled}/x`), {}), Http1ProtocolError)
  const extra = await rawServer(t, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nabcdef')
  // The extra bytes may come with the head or after it: either the request or its body fails.
  const error = await respond(pooled, new URL(`${extra}/x`), {})
    .then((response) => drain(response.body))
    .catch((e: unknown) => e)
  t.match(error, Http1ProtocolError, 'more than Content-Length')
  await t.rejects(pooled.get(new URL(`${garbled}/x`), { 'x-bad': 'a\r\nb' }), /line break/)
})

t.test('https: the body is read into segments through TLS too', async (t) => {
  const dir = await makeTempDir('pooled-tls')
  t.teardown(dir.remove)
  const keyPath = join(dir.path, 'key.pem')
  const certPath = join(dir.path, 'cert.pem')
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'],
    ...['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyPath, '-out', certPath],
  ])
  const cert = await readFile(certPath)
  const server = createHttpsServer({ key: await readFile(keyPath), cert }, (_req, res) => {
    res.writeHead(200, { 'content-length': String(content.length) }).end(content)
  })
  const host = await listen(server, t)
  const { pooled } = transport(t, { tls: { ca: cert } })
  const response = await respond(pooled, new URL(`https://${host}/blob`), {})
  const { bytes, pooledChunks } = await drain(response.body)
  t.ok(bytes.equals(content))
  t.ok(pooledChunks > 0)
  // TLS hands over one 16 KiB record per read; the records of a burst go on as one chunk.
  const records = Math.ceil(content.length / (16 * 1024))
  t.ok(pooledChunks <= records / 2, `${pooledChunks} chunks for ${records} TLS records`)
})

t.test('an abort while connecting ends the wait at once', async (t) => {
  // A server that accepts and never answers: the TLS handshake never completes.
  const controller = new AbortController()
  const silent = createNetServer(() => controller.abort())
  const host = await listen(silent, t)
  const { pooled } = transport(t, { connectTimeoutMs: 10_000 })
  const started = Date.now()
  await t.rejects(pooled.get(new URL(`https://${host}/x`), {}, controller.signal), { name: 'AbortError' })
  t.ok(Date.now() - started < 5000, 'well before the connect timeout')
})

t.test('bytes after an empty body are an error, and the connection is not reused', async (t) => {
  const { pooled } = transport(t)
  const stray = await rawServer(t, 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil')
  const error = await respond(pooled, new URL(`${stray}/x`), {})
    .then((response) => drain(response.body))
    .catch((e: unknown) => e)
  t.match(error, Http1ProtocolError)
})

t.test('a folded header line is left to the general client', async (t) => {
  const { pooled } = transport(t)
  const folded = await rawServer(t, 'HTTP/1.1 200 OK\r\nx-long: one\r\n two\r\ncontent-length: 2\r\n\r\nok')
  t.same(await pooled.get(new URL(`${folded}/x`), {}), { kind: 'unsupported', reason: 'folded-head' })
})

t.test('a head RFC 9112 rejects is left to the general client to judge', async (t) => {
  const { pooled } = transport(t)
  const spaced = await rawServer(t, 'HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok')
  t.same(await pooled.get(new URL(`${spaced}/x`), {}), { kind: 'unsupported', reason: 'invalid-head' })
  const bareLf = await rawServer(t, 'HTTP/1.1 200 OK\ncontent-length: 2\n\nok')
  t.same(await pooled.get(new URL(`${bareLf}/x`), {}), { kind: 'unsupported', reason: 'invalid-head' })
})
