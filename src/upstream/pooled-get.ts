import type { IncomingHttpHeaders } from 'node:http'
import { isIP, connect as netConnect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { releaseBytes, retainBytes, type SegmentPool } from '../buffers/segment-pool.js'

/** A read into less room than this starts a fresh segment: slivers cost a syscall each. */
const MIN_READ_BYTES = 64 * 1024
const MAX_HEAD_BYTES = 64 * 1024
/** A body larger than this is cut with its connection rather than read to be dropped. */
const MAX_DUMPED_BYTES = 64 * 1024
/** Idle connections close after this long: servers commonly drop them after 5 s. */
const IDLE_MS = 4000
const MAX_IDLE_PER_ORIGIN = 8

export interface PooledTransportOptions {
  segments: SegmentPool
  connectTimeoutMs: number
  /** The longest wait for a response's head, and the longest silence within its body. */
  timeoutMs: number
  maxRedirects: number
  /** Extra TLS options (a test's CA). */
  tls?: ConnectionOptions
}

/** A body read into pooled segments: each chunk carries one reference for its reader. */
export class PooledBody extends Readable {
  constructor() {
    // Room for a few socket reads, so the socket is not stopped and restarted after each.
    super({ highWaterMark: 1024 * 1024 })
    // A failure before the reader is attached must not be an uncaught 'error': the
    // reader (pipeline, iteration) still finds the stream errored.
    this.on('error', () => {})
  }

  /** Set by the connection: resumes reading the socket. */
  onDemand: () => void = () => {}
  /** Set by the connection: the bytes of the body not read yet. */
  remaining: () => number = () => 0

  override _read(): void {
    this.onDemand()
  }

  /** Drops the body: read to its end when small (the connection is kept), else cut. */
  dump(): Promise<void> {
    if (this.readableEnded || this.destroyed) return Promise.resolve()
    return new Promise<void>((resolve) => {
      this.once('close', resolve)
      this.once('end', resolve)
      if (this.remaining() > MAX_DUMPED_BYTES) this.destroy()
      else this.on('data', releaseBytes)
    })
  }
}

export interface PooledResponse {
  status: number
  headers: IncomingHttpHeaders
  body: PooledBody
}

class ProtocolError extends Error {
  readonly code = 'HPE_INVALID_RESPONSE'
}

/** The connection was found closed before it answered: safe to ask again on a new one. */
class StaleConnection extends Error {}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof Error) return reason
  const error = new Error('the request was aborted')
  error.name = 'AbortError'
  return error
}

/** The parsed head, or undefined for one this client leaves to the general one (folded lines). */
function parseHead(text: string): { status: number; headers: IncomingHttpHeaders; keepAlive: boolean } | undefined {
  const lines = text.split('\r\n')
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (statusLine === null) throw new ProtocolError(`malformed status line from upstream: ${lines[0]?.slice(0, 80)}`)
  const headers: Record<string, string | string[]> = {}
  for (const line of lines.slice(1)) {
    if (line.startsWith(' ') || line.startsWith('\t')) return undefined
    const colon = line.indexOf(':')
    if (colon <= 0) throw new ProtocolError('malformed header line from upstream')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const before = headers[name]
    headers[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value]
  }
  const connection = String(headers.connection ?? '').toLowerCase()
  const keepAlive = statusLine[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive')
  return { status: Number(statusLine[2]), headers, keepAlive }
}

/** The body's length when it is framed by Content-Length alone, else undefined. */
function framedLength(status: number, headers: IncomingHttpHeaders): number | undefined {
  if (headers['transfer-encoding'] !== undefined) return undefined
  if (status === 204 || status === 304) return 0
  const value = headers['content-length']
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined
}

interface Exchange {
  reused: boolean
  signal: AbortSignal | undefined
  resolve: (response: PooledResponse | undefined) => void
  reject: (error: Error) => void
  head: string
  body: PooledBody | undefined
  length: number
  received: number
  keepAlive: boolean
}

/**
 * One HTTP/1.1 connection whose socket reads land straight in pooled segments (the
 * socket's `onread`), so a body's bytes are never copied or allocated on the way in.
 */
class Connection {
  readonly socket: Socket
  /** The segment reads go into, which this connection holds one reference to. */
  private segment: Buffer | undefined
  private filled = 0
  private exchange: Exchange | undefined
  private idleTimer: NodeJS.Timeout | undefined
  readonly connected: Promise<void>

  constructor(
    readonly url: URL,
    private readonly options: PooledTransportOptions,
    private readonly onIdle: (connection: Connection) => void,
    private readonly onClose: (connection: Connection) => void,
  ) {
    const onread = { buffer: () => this.room(), callback: (n: number, buffer: Buffer) => this.onRead(n, buffer) }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
    const host = url.hostname.replace(/^\[|\]$/g, '')
    this.socket =
      url.protocol === 'https:'
        ? // TLS sockets take `onread` too (Node 14.18+); the typings leave it out.
          tlsConnect({
            host,
            port,
            servername: isIP(host) === 0 ? host : undefined,
            ALPNProtocols: ['http/1.1'],
            onread,
            ...options.tls,
          } as ConnectionOptions)
        : netConnect({ host, port, onread })
    this.socket.setNoDelay(true)
    this.socket.setTimeout(options.connectTimeoutMs)
    this.connected = new Promise<void>((resolve, reject) => {
      this.socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => resolve())
      this.socket.once('error', reject)
      this.socket.once('close', () => reject(new StaleConnection('closed while connecting')))
    })
    this.connected.catch(() => {})
    this.socket.on('timeout', () => {
      const error = new Error(`upstream ${this.exchange === undefined ? 'connect' : 'response'} timed out`)
      Object.assign(error, { code: 'UND_ERR_TIMEOUT' })
      this.socket.destroy(error)
    })
    this.socket.on('error', (e) => this.fail(e))
    this.socket.on('end', () => this.fail(new StaleConnection('upstream closed the connection')))
    this.socket.on('close', () => {
      clearTimeout(this.idleTimer)
      this.fail(new StaleConnection('upstream closed the connection'))
      if (this.segment !== undefined) releaseBytes(this.segment)
      this.segment = undefined
      this.onClose(this)
    })
  }

  /** Where the next read goes: the rest of the current segment, or a fresh one. */
  private room(): Buffer {
    if (this.segment === undefined || this.segment.length - this.filled < MIN_READ_BYTES) {
      if (this.segment !== undefined) releaseBytes(this.segment)
      this.segment = this.options.segments.acquire()
      this.filled = 0
    }
    return this.segment.subarray(this.filled)
  }

  private onRead(n: number, buffer: Buffer): boolean {
    this.filled += n
    const bytes = buffer.subarray(0, n)
    const exchange = this.exchange
    if (exchange === undefined) {
      this.socket.destroy(new ProtocolError('upstream sent bytes nobody asked for'))
      return false
    }
    try {
      return exchange.body === undefined ? this.onHead(exchange, bytes) : this.onBody(exchange, bytes)
    } catch (e) {
      this.socket.destroy(e as Error)
      return false
    }
  }

  private onHead(exchange: Exchange, bytes: Buffer): boolean {
    exchange.head += bytes.toString('latin1')
    const end = exchange.head.indexOf('\r\n\r\n')
    if (end < 0) {
      if (exchange.head.length > MAX_HEAD_BYTES) throw new ProtocolError('upstream response head too large')
      return true
    }
    const head = parseHead(exchange.head.slice(0, end))
    let rest = bytes.subarray(bytes.length - (exchange.head.length - end - 4))
    let length = head === undefined ? undefined : framedLength(head.status, head.headers)
    if (head === undefined || length === undefined || head.status < 200) {
      this.exchange = undefined
      this.socket.destroy()
      if (head === undefined || !isRedirect(head.status)) {
        // Framed some other way: the caller asks again through the general client.
        exchange.resolve(undefined)
        return false
      }
      // A redirect's body is never read: its Location is all that counts.
      length = 0
      rest = Buffer.alloc(0)
      exchange.keepAlive = false
    }
    const { status, headers, keepAlive } = head
    const body = new PooledBody()
    body.onDemand = () => {
      if (this.exchange === exchange && !this.socket.destroyed) {
        this.socket.setTimeout(this.options.timeoutMs)
        this.socket.resume()
      }
    }
    body.remaining = () => exchange.length - exchange.received
    body.on('close', () => {
      // A body left before its end takes the connection with it.
      if (this.exchange === exchange) this.socket.destroy()
    })
    Object.assign(exchange, { body, length, keepAlive: exchange.keepAlive && keepAlive })
    exchange.resolve({ status, headers, body })
    // Bytes past the body (even an empty one) are a protocol error, never the next answer.
    return this.onBody(exchange, rest)
  }

  private onBody(exchange: Exchange, bytes: Buffer): boolean {
    const body = exchange.body!
    if (exchange.received + bytes.length > exchange.length) {
      throw new ProtocolError('upstream sent more than its Content-Length')
    }
    exchange.received += bytes.length
    let more = true
    if (bytes.length > 0) {
      retainBytes(bytes)
      more = body.push(bytes)
    }
    if (exchange.received === exchange.length) {
      this.exchange = undefined
      body.push(null)
      if (exchange.keepAlive) this.idle()
      else this.socket.destroy()
      return true
    }
    // Waiting on a slow reader is not the upstream's silence.
    if (!more) this.socket.setTimeout(0)
    return more
  }

  private idle(): void {
    this.socket.setTimeout(0)
    this.idleTimer = setTimeout(() => this.socket.destroy(), IDLE_MS)
    this.idleTimer.unref()
    this.onIdle(this)
  }

  /** Sends a GET and resolves with the response head (undefined: framing not read here). */
  async request(
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    reused: boolean,
  ): Promise<PooledResponse | undefined> {
    if (signal?.aborted === true) throw abortError(signal)
    let exchange: Exchange | undefined
    const onAbort = () => {
      // While connecting or reading this answer the connection goes with it (at once, not
      // at the connect timeout); once the whole body is read it may serve another request.
      if (exchange === undefined || this.exchange === exchange) this.socket.destroy(abortError(signal!))
      else exchange.body?.destroy(abortError(signal!))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const forget = () => signal?.removeEventListener('abort', onAbort)
    try {
      await this.connected
      clearTimeout(this.idleTimer)
      if (this.socket.destroyed) throw new StaleConnection('connection closed while idle')
      const lines = [`GET ${path} HTTP/1.1`, `host: ${this.url.host}`]
      for (const [name, value] of Object.entries(headers)) {
        if (/[\r\n]/.test(name + value)) throw new ProtocolError(`header ${name} holds a line break`)
        lines.push(`${name}: ${value}`)
      }
      const response = new Promise<PooledResponse | undefined>((resolve, reject) => {
        exchange = {
          reused,
          signal,
          resolve,
          reject,
          head: '',
          body: undefined,
          length: 0,
          received: 0,
          keepAlive: true,
        }
      })
      this.exchange = exchange
      this.socket.setTimeout(this.options.timeoutMs)
      this.socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      this.socket.resume()
      const result = await response
      if (result === undefined) forget()
      else result.body.once('close', forget)
      return result
    } catch (e) {
      forget()
      throw e
    }
  }

  /** Ends the exchange in flight, if any, with `error`. */
  private fail(error: Error): void {
    const exchange = this.exchange
    if (exchange === undefined) return
    this.exchange = undefined
    const aborted = exchange.signal?.aborted === true ? abortError(exchange.signal) : undefined
    if (exchange.body === undefined) {
      // Nothing of the answer came: on a reused connection the server had closed it.
      const code = (error as NodeJS.ErrnoException).code
      const closed = error instanceof StaleConnection || code === 'ECONNRESET' || code === 'EPIPE'
      const stale = closed && exchange.reused && exchange.head === ''
      exchange.reject(aborted ?? (stale ? new StaleConnection(error.message) : premature(error)))
    } else {
      exchange.body.destroy(aborted ?? premature(error))
    }
  }
}

function premature(error: Error): Error {
  if (!(error instanceof StaleConnection)) return error
  const closed = new Error('upstream closed the connection before the response ended')
  Object.assign(closed, { code: 'UND_ERR_SOCKET' })
  return closed
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308
}

/**
 * GETs whose bodies are read into pooled segments, following redirects, with keep-alive
 * connections per origin. Only bodies framed by Content-Length are read this way; for
 * anything else `get` resolves undefined and the caller uses its general HTTP client.
 */
export class PooledTransport {
  private readonly idle = new Map<string, Connection[]>()

  constructor(private readonly options: PooledTransportOptions) {}

  async get(url: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<PooledResponse | undefined> {
    let target = url
    let sent = headers
    for (let redirects = 0; ; redirects++) {
      const response = await this.once(target, sent, signal)
      if (response === undefined || !isRedirect(response.status)) return response
      const location = response.headers.location
      await response.body.dump()
      if (typeof location !== 'string' || redirects >= this.options.maxRedirects) return undefined
      const next = new URL(location, target)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return undefined
      if (next.origin !== target.origin) {
        // Credentials are for the upstream, never for wherever it points.
        const { authorization: _dropped, ...rest } = sent
        sent = rest
      }
      target = next
    }
  }

  private async once(url: URL, headers: Record<string, string>, signal?: AbortSignal) {
    const path = `${url.pathname}${url.search}`
    for (;;) {
      const reused = this.takeIdle(url.origin)
      if (reused === undefined) break
      try {
        return await reused.request(path, headers, signal, true)
      } catch (e) {
        reused.socket.destroy()
        if (!(e instanceof StaleConnection)) throw e
      }
    }
    const connection = new Connection(
      url,
      this.options,
      (c) => this.putIdle(c),
      (c) => this.dropIdle(c),
    )
    try {
      return await connection.request(path, headers, signal, false)
    } catch (e) {
      connection.socket.destroy()
      throw e instanceof StaleConnection ? premature(e) : e
    }
  }

  private takeIdle(origin: string): Connection | undefined {
    const list = this.idle.get(origin)
    let connection = list?.pop()
    while (connection?.socket.destroyed === true) connection = list?.pop()
    return connection
  }

  private putIdle(connection: Connection): void {
    const list = this.idle.get(connection.url.origin) ?? []
    if (list.length >= MAX_IDLE_PER_ORIGIN) {
      connection.socket.destroy()
      return
    }
    list.push(connection)
    this.idle.set(connection.url.origin, list)
  }

  private dropIdle(connection: Connection): void {
    const list = this.idle.get(connection.url.origin)
    const at = list?.indexOf(connection) ?? -1
    if (at >= 0) list!.splice(at, 1)
    if (list?.length === 0) this.idle.delete(connection.url.origin)
  }

  /** Closes idle connections (at shutdown). */
  close(): void {
    for (const list of this.idle.values()) for (const connection of list) connection.socket.destroy()
    this.idle.clear()
  }
}
