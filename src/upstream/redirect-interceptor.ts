import type { IncomingHttpHeaders } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { nextHop, RedirectRefusedError, type Hop } from './redirect-policy.js'

type HeaderValue = string | string[]
type DispatchOptions = Dispatcher.DispatchOptions
type Controller = Dispatcher.DispatchController

/** undici's request header forms (an object, a flat name/value list, or pairs) as one object. */
function headerRecord(headers: DispatchOptions['headers']): Record<string, HeaderValue> {
  const record: Record<string, HeaderValue> = {}
  const add = (name: string, value: HeaderValue | undefined) => {
    if (value !== undefined) record[name] = value
  }
  if (headers === null || headers === undefined) return record
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i]!, headers[i + 1])
  } else if (Symbol.iterator in headers) {
    for (const [name, value] of headers) add(name, value)
  } else {
    for (const [name, value] of Object.entries(headers)) add(name, value)
  }
  return record
}

/** A body that can be sent again on the next hop: none, or bytes (never a stream). */
function replayable(body: DispatchOptions['body']): boolean {
  return body === null || body === undefined || typeof body === 'string' || body instanceof Uint8Array
}

/**
 * Follows one request's redirects by the policy in redirect-policy.ts: a redirect's body
 * is dropped unread and the next hop dispatched when it ends; any other answer, and a
 * redirect the policy does not follow, goes to the caller's handler as it is.
 */
class RedirectFollower implements Dispatcher.DispatchHandler {
  private readonly visited: URL[] = []
  /** Set while a redirect's body is being dropped: the hop to ask once it ends. */
  private following: { hop: Hop<HeaderValue>; dropBody: boolean } | undefined

  constructor(
    private readonly dispatch: Dispatcher.Dispatch,
    private opts: DispatchOptions & { origin: string | URL },
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly maxRedirects: number,
  ) {}

  start(): boolean {
    return this.dispatch(this.opts, this)
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.handler.onRequestStart?.(controller, context)
  }

  onRequestUpgrade(controller: Controller, status: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.handler.onRequestUpgrade?.(controller, status, headers, socket)
  }

  onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, message?: string): void {
    const { opts } = this
    const hop = { url: new URL(opts.path, opts.origin), method: opts.method, headers: headerRecord(opts.headers) }
    this.visited.push(hop.url)
    const chain = { visited: this.visited, maxRedirects: this.maxRedirects, bodyReplayable: replayable(opts.body) }
    const step = nextHop(hop, { status, location: headers.location }, chain)
    // Thrown here, undici aborts the request and reports the error to onResponseError.
    if (step.kind === 'refuse') throw new RedirectRefusedError(step.message)
    if (step.kind === 'follow') this.following = step
    else this.handler.onResponseStart?.(controller, status, headers, message)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.following === undefined) this.handler.onResponseData?.(controller, chunk)
  }

  onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    const next = this.following
    if (next === undefined) {
      this.handler.onResponseEnd?.(controller, trailers)
      return
    }
    this.following = undefined
    const { url, method, headers } = next.hop
    const body = next.dropBody ? null : this.opts.body
    this.opts = {
      ...this.opts,
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      query: undefined,
      method,
      headers,
      body,
    }
    this.start()
  }

  onResponseError(controller: Controller, error: Error): void {
    this.handler.onResponseError?.(controller, error)
  }
}

/**
 * An undici interceptor that follows redirects by the project's one redirect policy, in
 * place of undici's own `interceptors.redirect`, so both HTTP clients decide alike.
 */
export function followRedirects(maxRedirects: number): Dispatcher.DispatchInterceptor {
  return (dispatch) => (opts, handler) => {
    // Without an origin (a Client or Pool, not an Agent) nothing here can resolve a Location.
    if (opts.origin === undefined || maxRedirects === 0) return dispatch(opts, handler)
    return new RedirectFollower(dispatch, { ...opts, origin: opts.origin }, handler, maxRedirects).start()
  }
}
