import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { basicAuthorization, type ClientCredentials } from '../auth/client-credentials.js'
import { TokenService } from '../auth/token-service.js'
import { findBearer, parseWwwAuthenticate, type BearerChallenge } from '../auth/www-authenticate.js'
import { discard } from '../http/body.js'
import type { ProxyRoute } from '../http/proxy-route.js'
import { failureReason, isAbort, toTransportError } from '../http/transport-errors.js'
import { ignoreUpstream, upstreamKindOf, type UpstreamObserver } from '../http/upstream-observer.js'
import { UpstreamOfflineError, UpstreamUnavailableError } from '../errors.js'
import type { PooledTransport } from './http1/pooled-transport.js'
import { UpstreamBackoff, type Reach } from './upstream-backoff.js'

/**
 * Who an upstream request is made as:
 * - `anonymous`: the token dance without credentials (how the mirror decides whether a
 *   repository is public);
 * - `mirror`: the token dance with the mirror's own account when one is configured, else
 *   anonymous; only ever for repositories verified public;
 * - `client`: the client's own Authorization header, forwarded as it is (or none).
 */
export type UpstreamAuth =
  { kind: 'anonymous' } | { kind: 'mirror' } | { kind: 'client'; credentials: ClientCredentials }

/** How the upstream wants to be authenticated, from the challenge on its `/v2/`. */
export type UpstreamScheme =
  | { kind: 'none' }
  | { kind: 'bearer'; realm: string; service: string | undefined }
  | { kind: 'basic'; challenge: string }
  | { kind: 'unreachable' }

export interface UpstreamRequest {
  method: 'GET' | 'HEAD'
  /** Path under the upstream's base URL, starting with `/v2/`, without a query. */
  path: string
  query?: Record<string, string>
  /** The repository the request is for: it decides the token's scope. */
  repo: string
  accept?: string
  /** Sent as it is (Range on a pass-through). */
  headers?: Record<string, string>
  auth: UpstreamAuth
  signal?: AbortSignal
  /** Receives the status of the last upstream answer, for the client's request log line. */
  trace?: UpstreamTrace
  /**
   * Read the body into pooled segments (see PooledTransport): for blob fills, whose
   * chunks the fill releases. Other callers get ordinary buffers.
   */
  pooledBody?: boolean
}

export interface UpstreamTrace {
  status?: number
}

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: UpstreamBody
}

/** A response body: read it, or drop it with `dump()` so its connection can be reused. */
export type UpstreamBody = Readable & { dump(): Promise<void> }

export interface UpstreamClientOptions {
  baseUrl: string
  dispatcher: Dispatcher
  /** Reads blob bodies into pooled segments; without it every body comes through `dispatcher`. */
  pooled?: PooledTransport
  /** The proxy of each URL, as `dispatcher` routes it: the pooled transport follows it too. */
  proxyRoute?: ProxyRoute
  tokens: TokenService
  userAgent: string
  /** The mirror's own account, for `mirror` requests. */
  credentials?: { username: string; password: string }
  observer?: UpstreamObserver
  /** Never contacted: every request fails at once with UpstreamOfflineError. */
  offline?: { name: string }
  /** Stops requests after repeated failures to reach the upstream; a default one when absent. */
  backoff?: UpstreamBackoff
}

/** How an upstream call that threw ended, for the backoff. */
function reachOf(error: unknown, signal: AbortSignal | undefined): Reach {
  if (isAbort(error, signal)) return 'unknown'
  return error instanceof UpstreamUnavailableError ? 'unreachable' : 'reachable'
}

/** Talks to the one upstream registry: paths, the token dance, transport errors. */
export class UpstreamClient {
  private readonly origin: string
  private readonly basePath: string
  private readonly mirrorBasic: string | undefined
  /** Learnt from the upstream's first 401, so later requests fetch their token up front. */
  private challenge: BearerChallenge | undefined
  private scheme: UpstreamScheme | undefined
  private probing: Promise<UpstreamScheme> | undefined
  private readonly backoff: UpstreamBackoff

  constructor(private readonly options: UpstreamClientOptions) {
    this.backoff = options.backoff ?? new UpstreamBackoff()
    const url = new URL(options.baseUrl)
    this.origin = url.origin
    this.basePath = url.pathname.replace(/\/+$/, '')
    const { credentials } = options
    this.mirrorBasic =
      credentials === undefined ? undefined : basicAuthorization(credentials.username, credentials.password)
  }

  /** Configured offline: never contacted. */
  get offline(): boolean {
    return this.options.offline !== undefined
  }

  /** Backing off after repeated failures to reach it: requests are refused at once. */
  get backingOff(): boolean {
    return this.backoff.active
  }

  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const { offline } = this.options
    if (offline !== undefined) throw new UpstreamOfflineError(offline.name, upstreamKindOf(request.path))
    return this.guarded(request.signal, () => this.sendNow(request))
  }

  /** A call past the backoff, whose outcome (token requests included) the backoff learns. */
  private async guarded<T>(signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    const admission = this.backoff.admit()
    if (admission === 'refused') {
      throw new UpstreamUnavailableError('upstream unreachable: backing off until a probe gets through')
    }
    try {
      const result = await call()
      this.backoff.settle(admission, 'reachable')
      return result
    } catch (e) {
      this.backoff.settle(admission, reachOf(e, signal))
      throw e
    }
  }

  private async sendNow(request: UpstreamRequest): Promise<UpstreamResponse> {
    if (request.auth.kind === 'client') {
      const { credentials } = request.auth
      return this.dispatch(request, credentials.kind === 'forward' ? credentials.authorization : undefined)
    }
    const basic = request.auth.kind === 'mirror' ? this.mirrorBasic : undefined
    // An anonymous request asks whether a repository is public now: a cached token may
    // carry yesterday's answer, so it always gets a fresh one.
    const fresh = request.auth.kind === 'anonymous'
    const scope = `repository:${request.repo}:pull`
    let token = this.challenge === undefined ? undefined : await this.token(this.challenge, [scope], basic, fresh)
    let response = await this.dispatch(request, token === undefined ? undefined : `Bearer ${token}`)
    if (response.status !== 401) return response
    const challenge = findBearer(response.headers['www-authenticate'])
    if (challenge === undefined || !(await this.isOwnRealm(challenge.realm))) return response
    this.challenge = { realm: challenge.realm, service: challenge.service }
    // A token we sent and got a 401 for is stale or revoked: fetch a new one once.
    token = await this.token(challenge, [challenge.scope ?? scope], basic, fresh || token !== undefined)
    await discard(response.body)
    response = await this.dispatch(request, `Bearer ${token}`)
    return response
  }

  /**
   * A 401 may come from a host a redirect led to (a CDN, or anything the upstream points
   * at): only the realm the upstream itself names at `/v2/` gets a token request, with
   * the mirror's credentials. A realm that differs is checked once more against a fresh
   * probe, so a registry that moves its token service is followed.
   */
  private async isOwnRealm(realm: string): Promise<boolean> {
    const named = async () => {
      const scheme = await this.authScheme()
      return scheme.kind === 'bearer' && scheme.realm === realm
    }
    if (await named()) return true
    this.scheme = undefined
    return named()
  }

  /** The upstream's auth scheme, probed once with `GET /v2/` and then remembered. */
  async authScheme(): Promise<UpstreamScheme> {
    if (this.options.offline !== undefined) return { kind: 'unreachable' }
    if (this.scheme !== undefined) return this.scheme
    this.probing ??= this.probe().finally(() => (this.probing = undefined))
    return this.probing
  }

  private async probe(): Promise<UpstreamScheme> {
    let response: UpstreamResponse
    try {
      const ping = { method: 'GET' as const, path: '/v2/', repo: '', auth: { kind: 'anonymous' as const } }
      response = await this.guarded(undefined, () => this.dispatch(ping, undefined))
    } catch {
      return { kind: 'unreachable' }
    }
    await discard(response.body)
    const header = response.headers['www-authenticate']
    const bearer = findBearer(header)
    let scheme: UpstreamScheme
    if (response.status !== 401) scheme = { kind: 'none' }
    else if (bearer !== undefined) scheme = { kind: 'bearer', realm: bearer.realm, service: bearer.service }
    else if (parseWwwAuthenticate(header).some((c) => c.scheme === 'basic')) {
      scheme = { kind: 'basic', challenge: Array.isArray(header) ? header.join(', ') : (header ?? '') }
    } else return { kind: 'unreachable' }
    this.scheme = scheme
    if (scheme.kind === 'bearer') this.challenge ??= { realm: scheme.realm, service: scheme.service }
    return scheme
  }

  private token(challenge: BearerChallenge, scopes: string[], basic: string | undefined, refresh = false) {
    const request = { ...TokenService.challengeRequest(challenge, scopes), basicAuthorization: basic }
    return this.options.tokens.token(request, { refresh })
  }

  private async dispatch(request: UpstreamRequest, authorization: string | undefined): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { ...request.headers, 'user-agent': this.options.userAgent }
    if (request.accept !== undefined) headers.accept = request.accept
    if (authorization !== undefined) headers.authorization = authorization
    const query = request.query === undefined ? '' : `?${new URLSearchParams(request.query).toString()}`
    const kind = upstreamKindOf(request.path)
    const observer = this.options.observer ?? ignoreUpstream
    const started = performance.now()
    const path = `${this.basePath}${request.path}${query}`
    try {
      const response =
        (await this.viaPooled(request, path, headers, observer)) ?? (await this.viaDispatcher(request, path, headers))
      observer.response(kind, response.status, (performance.now() - started) / 1000)
      if (request.trace !== undefined) request.trace.status = response.status
      return response
    } catch (e) {
      const error = toTransportError(e, `${request.method} ${request.path}`, request.signal)
      if (error instanceof UpstreamUnavailableError) observer.failure(kind, failureReason(e))
      throw error
    }
  }

  /** A blob GET read into pooled segments; undefined when it is for the dispatcher to send. */
  private async viaPooled(
    request: UpstreamRequest,
    path: string,
    headers: Record<string, string>,
    observer: UpstreamObserver,
  ): Promise<UpstreamResponse | undefined> {
    const { pooled } = this.options
    if (request.pooledBody !== true || request.method !== 'GET' || pooled === undefined) return undefined
    const result = await pooled.get(new URL(path, this.origin), headers, request.signal, this.options.proxyRoute)
    if (result.kind === 'response') return { status: result.status, headers: result.headers, body: result.body }
    // The dispatcher sends the whole GET again: counted, so a costly upstream shows.
    observer.fallback(result.reason)
    return undefined
  }

  private async viaDispatcher(
    request: UpstreamRequest,
    path: string,
    headers: Record<string, string>,
  ): Promise<UpstreamResponse> {
    const {
      statusCode,
      headers: received,
      body,
    } = await this.options.dispatcher.request({
      origin: this.origin,
      path,
      method: request.method,
      headers,
      signal: request.signal,
    })
    return { status: statusCode, headers: received, body }
  }
}
