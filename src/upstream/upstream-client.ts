import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { TokenService } from '../auth/token-service.js'
import { findBearer, type BearerChallenge } from '../auth/www-authenticate.js'
import { discard } from '../http/body.js'
import { toTransportError } from '../http/transport-errors.js'

/**
 * Who the upstream request is made as. `mirror`: the mirror authenticates by itself
 * (an anonymous token for the repository's pull scope). `client`: the caller's own
 * Authorization header is forwarded as it is.
 */
export type UpstreamAuth = { kind: 'mirror' } | { kind: 'client'; authorization: string }

export interface UpstreamRequest {
  method: 'GET' | 'HEAD'
  /** Path under the upstream's base URL, starting with `/v2/`, without a query. */
  path: string
  query?: Record<string, string>
  /** The repository the request is for: it decides the token's scope. */
  repo: string
  accept?: string
  auth: UpstreamAuth
  signal?: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Dispatcher.ResponseData['body']
}

export interface UpstreamClientOptions {
  baseUrl: string
  dispatcher: Dispatcher
  tokens: TokenService
  userAgent: string
}

/** Talks to the one upstream registry: paths, the token dance, transport errors. */
export class UpstreamClient {
  private readonly origin: string
  private readonly basePath: string
  /** Learnt from the upstream's first 401, so later requests fetch their token up front. */
  private challenge: BearerChallenge | undefined

  constructor(private readonly options: UpstreamClientOptions) {
    const url = new URL(options.baseUrl)
    this.origin = url.origin
    this.basePath = url.pathname.replace(/\/+$/, '')
  }

  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    if (request.auth.kind === 'client') return this.dispatch(request, request.auth.authorization)
    const scope = `repository:${request.repo}:pull`
    let token = this.challenge === undefined ? undefined : await this.token(this.challenge, [scope])
    let response = await this.dispatch(request, token === undefined ? undefined : `Bearer ${token}`)
    if (response.status !== 401) return response
    const challenge = findBearer(response.headers['www-authenticate'])
    if (challenge === undefined) return response
    this.challenge = { realm: challenge.realm, service: challenge.service }
    // A token we sent and got a 401 for is stale or revoked: fetch a new one once.
    token = await this.token(challenge, [challenge.scope ?? scope], token !== undefined)
    await discard(response.body)
    response = await this.dispatch(request, `Bearer ${token}`)
    return response
  }

  private token(challenge: BearerChallenge, scopes: string[], refresh = false): Promise<string> {
    return this.options.tokens.token(TokenService.challengeRequest(challenge, scopes), { refresh })
  }

  private async dispatch(request: UpstreamRequest, authorization: string | undefined): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent }
    if (request.accept !== undefined) headers.accept = request.accept
    if (authorization !== undefined) headers.authorization = authorization
    const query = request.query === undefined ? '' : `?${new URLSearchParams(request.query).toString()}`
    try {
      const response = await this.options.dispatcher.request({
        origin: this.origin,
        path: `${this.basePath}${request.path}${query}`,
        method: request.method,
        headers,
        signal: request.signal,
      })
      return { status: response.statusCode, headers: response.headers, body: response.body }
    } catch (e) {
      throw toTransportError(e, `${request.method} ${request.path}`, request.signal)
    }
  }
}
