import type { Dispatcher } from 'undici'
import { readLimited } from '../http/body.js'
import { UpstreamUnavailableError } from '../errors.js'
import { failureReason, toTransportError } from '../http/transport-errors.js'
import type { UpstreamObserver } from '../http/upstream-observer.js'

/** Token answers are small JSON documents; anything bigger is not one. */
const MAX_TOKEN_ANSWER_BYTES = 256 * 1024

export interface TokenRequest {
  method: 'GET' | 'POST'
  /** The client's query string, without `?`, passed on as it is. */
  query: string
  authorization?: string
  contentType?: string
  body?: Buffer
}

export interface TokenAnswer {
  status: number
  contentType: string
  body: Buffer
}

/**
 * Forwards a client's token request to the upstream's real realm, credentials and all, and
 * returns the realm's answer unchanged. A client in a closed network then only needs to
 * reach the mirror. Transport failures are thrown as UpstreamUnavailableError.
 */
export async function relayTokenRequest(
  dispatcher: Dispatcher,
  realm: string,
  request: TokenRequest,
  options: { timeoutMs: number; userAgent: string; observer: UpstreamObserver },
): Promise<TokenAnswer> {
  const url = new URL(realm)
  const query = [url.search.slice(1), request.query].filter((q) => q !== '').join('&')
  const headers: Record<string, string> = { 'user-agent': options.userAgent }
  if (request.authorization !== undefined) headers.authorization = request.authorization
  if (request.contentType !== undefined) headers['content-type'] = request.contentType
  const started = performance.now()
  try {
    const response = await dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${query === '' ? '' : `?${query}`}`,
      method: request.method,
      headers,
      body: request.method === 'POST' ? request.body : undefined,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })
    options.observer.response('token', response.statusCode, (performance.now() - started) / 1000)
    const body = await readLimited(response.body, MAX_TOKEN_ANSWER_BYTES)
    const type = response.headers['content-type']
    return {
      status: response.statusCode,
      contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/json',
      body,
    }
  } catch (e) {
    const error = toTransportError(e, `token realm ${url.host}`)
    if (error instanceof UpstreamUnavailableError) options.observer.failure('token', failureReason(e))
    throw error
  }
}
