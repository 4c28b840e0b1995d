import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Dispatcher } from 'undici'
import { z } from 'zod'
import { UpstreamContentError, UpstreamStatusError, pickRelayedHeaders } from '../errors.js'
import { readLimited } from '../http/body.js'
import { failureReason, toTransportError } from '../http/transport-errors.js'
import { ignoreUpstream, type UpstreamObserver } from '../http/upstream-observer.js'
import type { BearerChallenge } from './www-authenticate.js'

/** Distribution's token spec: a token without `expires_in` lives 60 seconds. */
const DEFAULT_TOKEN_LIFETIME_S = 60
/** Renew this long before expiry, so a token never dies between fetch and use. */
const RENEW_MARGIN_S = 15
const MAX_CACHED_TOKENS = 10_000
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024

export interface TokenRequest {
  realm: string
  service?: string
  scopes: string[]
  /** `Basic …` to fetch as a user; absent for an anonymous token. */
  basicAuthorization?: string
}

/**
 * A realm's answer: Docker's `token`, or OAuth2's `access_token` (Distribution's token
 * spec allows both). A field of the wrong type counts as absent, as a missing
 * `expires_in` does.
 */
const tokenResponseSchema = z.object({
  token: z.string().min(1).optional().catch(undefined),
  access_token: z.string().min(1).optional().catch(undefined),
  expires_in: z.number().optional().catch(undefined),
})

/** How long to keep a token: its lifetime less a margin, and never less than a second. */
export function tokenCacheTtlMs(expiresInSeconds: unknown): number {
  const lifetime =
    typeof expiresInSeconds === 'number' && expiresInSeconds > 0 ? expiresInSeconds : DEFAULT_TOKEN_LIFETIME_S
  const margin = Math.min(RENEW_MARGIN_S, lifetime / 4)
  return Math.max(1, lifetime - margin) * 1000
}

/**
 * Fetches Bearer tokens from a registry's auth realm (Docker's token flow) and caches them
 * until shortly before they expire. Concurrent requests for one token share one fetch.
 */
export class TokenService {
  private readonly cache: LRUCache<string, string>
  private readonly pending = new Map<string, Promise<string>>()

  /** `now`, a clock in milliseconds, replaces the monotonic one tokens expire by (tests move time with it). */
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly userAgent: string,
    private readonly timeoutMs: number,
    private readonly observer: UpstreamObserver = ignoreUpstream,
    now?: () => number,
  ) {
    this.cache = new LRUCache<string, string>({
      max: MAX_CACHED_TOKENS,
      ttlAutopurge: false,
      // A clock that jumps must be read at each look-up, not once per millisecond.
      ...(now === undefined ? {} : { perf: { now }, ttlResolution: 0 }),
    })
  }

  static challengeRequest(challenge: BearerChallenge, scopes: string[]): TokenRequest {
    return { realm: challenge.realm, service: challenge.service, scopes }
  }

  async token(request: TokenRequest, options: { refresh?: boolean } = {}): Promise<string> {
    const key = cacheKey(request)
    if (options.refresh === true) this.cache.delete(key)
    const cached = this.cache.get(key)
    if (cached !== undefined) return cached
    const inFlight = this.pending.get(key)
    if (inFlight !== undefined) return inFlight
    const fetching = this.fetch(request)
      .then(({ token, ttlMs }) => {
        this.cache.set(key, token, { ttl: ttlMs })
        return token
      })
      .finally(() => this.pending.delete(key))
    this.pending.set(key, fetching)
    return fetching
  }

  private async fetch(request: TokenRequest): Promise<{ token: string; ttlMs: number }> {
    const url = new URL(request.realm)
    if (request.service !== undefined) url.searchParams.set('service', request.service)
    for (const scope of request.scopes) url.searchParams.append('scope', scope)
    const headers: Record<string, string> = { 'user-agent': this.userAgent }
    if (request.basicAuthorization !== undefined) headers.authorization = request.basicAuthorization
    let response: Dispatcher.ResponseData
    const started = performance.now()
    try {
      response = await this.dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'GET',
        headers,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
    } catch (e) {
      this.observer.failure('token', failureReason(e))
      throw toTransportError(e, `token realm ${url.host}`)
    }
    this.observer.response('token', response.statusCode, (performance.now() - started) / 1000)
    const body = await readLimited(response.body, MAX_TOKEN_RESPONSE_BYTES)
    if (response.statusCode !== 200) {
      throw new UpstreamStatusError(response.statusCode, pickRelayedHeaders(response.headers), body)
    }
    let json: unknown
    try {
      json = JSON.parse(body.toString('utf8'))
    } catch {
      throw new UpstreamContentError(`token realm ${url.host} answered without JSON`)
    }
    const parsed = tokenResponseSchema.safeParse(json)
    const token = parsed.data?.token ?? parsed.data?.access_token
    if (token === undefined) throw new UpstreamContentError(`token realm ${url.host} answered without a token`)
    return { token, ttlMs: tokenCacheTtlMs(parsed.data?.expires_in) }
  }
}

function cacheKey(request: TokenRequest): string {
  // Credentials are part of the key but never kept as such: only their hash is.
  const identity =
    request.basicAuthorization === undefined
      ? 'anonymous'
      : createHash('sha256').update(request.basicAuthorization).digest('hex')
  return [request.realm, request.service ?? '', [...request.scopes].sort().join(' '), identity].join('\n')
}
