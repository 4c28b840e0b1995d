import { isIP, connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions as TlsOptions } from 'node:tls'
import { releaseBytes, retainBytes, type SegmentPool } from '../../buffers/segment-pool.js'
import type { TransportFallbackReason } from '../../http/upstream-observer.js'
import { abortError, premature, Http1ProtocolError, Http1TimeoutError, StaleConnection } from './errors.js'
import { isRedirect } from '../redirect-policy.js'
import { readHead } from './head-parser.js'
import { PooledBody, type PooledResult } from './pooled-body.js'

/** A read into less room than this starts a fresh segment: slivers cost a syscall each. */
const MIN_READ_BYTES = 64 * 1024
/** Idle connections close after this long: servers commonly drop them after 5 s. */
const IDLE_MS = 4000

export interface ConnectionOptions {
  segments: SegmentPool
  connectTimeoutMs: number
  /** The longest wait for a response's head, and the longest silence within its body. */
  timeoutMs: number
  /** Extra TLS options (a test's CA). */
  tls?: TlsOptions
}

interface Exchange {
  reused: boolean
  signal: AbortSignal | undefined
  resolve: (result: PooledResult) => void
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
interface OnRead {
  buffer: () => Buffer
  callback: (n: number, buffer: Buffer) => boolean
}

/** `Proxy-Authorization` for a proxy URL's credentials, as undici's ProxyAgent sends it. */
function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined
  const pair = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return `Basic ${Buffer.from(pair).toString('base64')}`
}

function openSocket(url: URL, onread: OnRead, tls: TlsOptions | undefined): Socket {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (url.protocol !== 'https:') return netConnect({ host, port, onread })
  const servername = isIP(host) === 0 ? host : undefined
  // TLS sockets take `onread` too (Node 14.18+); the typings leave it out.
  return tlsConnect({ host, port, servername, ALPNProtocols: ['http/1.1'], onread, ...tls } as TlsOptions)
}

/** The request head of a GET; a header holding a line break would smuggle another request. */
function requestHead(path: string, host: string, headers: Record<string, string>): string {
  const lines = [`GET ${path} HTTP/1.1`, `host: ${host}`]
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name + value)) throw new Http1ProtocolError(`header ${name} holds a line break`)
    lines.push(`${name}: ${value}`)
  }
  return `${lines.join('\r\n')}\r\n\r\n`
}

/**
 * Where a connection goes: to `url`'s origin, or through an HTTP proxy, which is asked
 * for `url` in absolute form (a plain-http target: https ones need a tunnel, which the
 * pooled transport leaves to undici).
 */
export interface Endpoint {
  url: URL
  proxy?: URL
}

/** Connections with the same key may serve each other's requests. */
export function endpointKey(endpoint: Endpoint): string {
  return endpoint.proxy === undefined ? endpoint.url.origin : `${endpoint.url.origin} via ${endpoint.proxy.href}`
}

export class Connection {
  readonly socket: Socket
  readonly url: URL
  readonly key: string
  private readonly proxyHeaders: Record<string, string>
  /** The segment reads go into, which this connection holds one reference to. */
  private segment: Buffer | undefined
  private filled = 0
  private exchange: Exchange | undefined
  /**
   * Body bytes read but not yet handed on: the reads of one burst, which lie one after
   * another in the segment, go to the body as one chunk (see hold).
   */
  private held: { exchange: Exchange; start: number; length: number } | undefined
  private idleTimer: NodeJS.Timeout | undefined
  readonly connected: Promise<void>

  constructor(
    private readonly endpoint: Endpoint,
    private readonly options: ConnectionOptions,
    private readonly onIdle: (connection: Connection) => void,
    private readonly onClose: (connection: Connection) => void,
  ) {
    this.url = endpoint.url
    this.key = endpointKey(endpoint)
    const authorization = endpoint.proxy === undefined ? undefined : proxyAuthorization(endpoint.proxy)
    this.proxyHeaders = authorization === undefined ? {} : { 'proxy-authorization': authorization }
    const peer = endpoint.proxy ?? endpoint.url
    const onread = { buffer: () => this.room(), callback: (n: number, buffer: Buffer) => this.onRead(n, buffer) }
    this.socket = openSocket(peer, onread, options.tls)
    this.socket.setNoDelay(true)
    this.socket.setTimeout(options.connectTimeoutMs)
    this.connected = new Promise<void>((resolve, reject) => {
      this.socket.once(peer.protocol === 'https:' ? 'secureConnect' : 'connect', () => resolve())
      this.socket.once('error', reject)
      this.socket.once('close', () => reject(new StaleConnection('closed while connecting')))
    })
    this.connected.catch(() => {})
    this.socket.on('timeout', () => {
      const phase = this.exchange === undefined ? 'connect' : 'response'
      this.socket.destroy(new Http1TimeoutError(`upstream ${phase} timed out`))
    })
    this.socket.on('error', (e) => this.fail(e))
    this.socket.on('end', () => this.fail(new StaleConnection('upstream closed the connection')))
    this.socket.on('close', () => {
      clearTimeout(this.idleTimer)
      this.fail(new StaleConnection('upstream closed the connection'))
      this.held = undefined
      if (this.segment !== undefined) releaseBytes(this.segment)
      this.segment = undefined
      this.onClose(this)
    })
  }

  /** Where the next read goes: the rest of the current segment, or a fresh one. */
  private room(): Buffer {
    if (this.segment === undefined || this.segment.length - this.filled < MIN_READ_BYTES) {
      // What is held lies in the old segment: it goes on before that is let go.
      this.handOn()
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
      this.socket.destroy(new Http1ProtocolError('upstream sent bytes nobody asked for'))
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
    const read = readHead(exchange.head)
    if (read.kind === 'incomplete') return true
    if (read.kind === 'unsupported') return this.handOver(exchange, read.reason)
    const { status, headers, keepAlive, framing } = read.head
    let rest = bytes.subarray(bytes.length - (exchange.head.length - read.bodyOffset))
    let length: number
    if (framing.kind === 'length') length = framing.length
    else if (!isRedirect(status)) return this.handOver(exchange, framing.reason)
    else {
      // A redirect's body is never read: its Location is all that counts.
      this.exchange = undefined
      this.socket.destroy()
      length = 0
      rest = Buffer.alloc(0)
      exchange.keepAlive = false
    }
    const body = this.bodyOf(exchange)
    Object.assign(exchange, { body, length, keepAlive: exchange.keepAlive && keepAlive })
    exchange.resolve({ kind: 'response', status, headers, body })
    // Bytes past the body (even an empty one) are a protocol error, never the next answer.
    return this.onBody(exchange, rest)
  }

  /** The body of `exchange`, which reads the socket on demand and closes it when left early. */
  private bodyOf(exchange: Exchange): PooledBody {
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
    return body
  }

  /** Ends the exchange without a response: the caller asks again through its general client. */
  private handOver(exchange: Exchange, reason: TransportFallbackReason): boolean {
    this.exchange = undefined
    this.socket.destroy()
    exchange.resolve({ kind: 'unsupported', reason })
    return false
  }

  private onBody(exchange: Exchange, bytes: Buffer): boolean {
    if (exchange.received + bytes.length > exchange.length) {
      throw new Http1ProtocolError('upstream sent more than its Content-Length')
    }
    exchange.received += bytes.length
    if (bytes.length > 0) this.hold(exchange, bytes)
    if (exchange.received === exchange.length) {
      this.exchange = undefined
      this.handOn()
      exchange.body!.push(null)
      if (exchange.keepAlive) this.idle()
      else this.socket.destroy()
    }
    return true
  }

  /**
   * Keeps body bytes back until the current burst of reads is over (the event loop's
   * check phase, after its I/O callbacks): TLS hands over one record of at most 16 KiB
   * per read, each in a callback of its own, several per TCP read, and each chunk pushed
   * costs the fill, the writer, the hash and every reader a turn. Read after read lands
   * next in the same segment, so the burst is one view of it.
   */
  private hold(exchange: Exchange, bytes: Buffer): void {
    const start = bytes.byteOffset - this.segment!.byteOffset
    const held = this.held
    if (held !== undefined && held.exchange === exchange && held.start + held.length === start) {
      held.length += bytes.length
      return
    }
    this.handOn()
    this.held = { exchange, start, length: bytes.length }
    setImmediate(() => this.handOn())
  }

  /** Pushes what is held to its body; a full body stops the socket until it asks again. */
  private handOn(): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    const body = held.exchange.body!
    // A body destroyed meanwhile took the connection with it; the bytes go nowhere.
    if (body.destroyed) return
    const bytes = this.segment!.subarray(held.start, held.start + held.length)
    retainBytes(bytes)
    if (body.push(bytes) || this.exchange !== held.exchange) return
    // Waiting on a slow reader is not the upstream's silence.
    this.socket.setTimeout(0)
    this.socket.pause()
  }

  private idle(): void {
    this.socket.setTimeout(0)
    this.idleTimer = setTimeout(() => this.socket.destroy(), IDLE_MS)
    this.idleTimer.unref()
    this.onIdle(this)
  }

  /** Sends a GET and resolves with the response head, or why this client does not read it. */
  async request(
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    reused: boolean,
  ): Promise<PooledResult> {
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
      const target = this.endpoint.proxy === undefined ? path : `${this.url.origin}${path}`
      const head = requestHead(target, this.url.host, { ...headers, ...this.proxyHeaders })
      const response = new Promise<PooledResult>((resolve, reject) => {
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
      this.socket.write(head)
      this.socket.resume()
      const result = await response
      if (result.kind === 'unsupported') forget()
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
