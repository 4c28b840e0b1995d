import { errors } from 'undici'
import { UpstreamUnavailableError } from '../errors.js'

/** A bounded label for a transport failure: what went wrong, not where. */
export type FailureReason = 'timeout' | 'refused' | 'reset' | 'dns' | 'tls' | 'proxy' | 'other'

/**
 * A failure of the project's own HTTP client. Each subclass carries a stable `code` and
 * the reason it counts under, so it is classified by its class, never by its message.
 * (It is declared here, not beside that client, because the layers that map failures,
 * auth among them, may not import the upstream client.)
 */
export abstract class TransportFailure extends Error {
  abstract readonly code: string
  abstract readonly reason: FailureReason
}

type ErrorClass = abstract new (...args: never[]) => Error

/** undici's failures, by class (its classes match across copies of undici, too). */
const UNDICI_REASONS: ReadonlyArray<readonly [ErrorClass, FailureReason]> = [
  [errors.ConnectTimeoutError, 'timeout'],
  [errors.HeadersTimeoutError, 'timeout'],
  [errors.BodyTimeoutError, 'timeout'],
  [errors.SocketError, 'reset'],
]

/** Node's own failures (net, dns, tls) carry only a system code. */
const SYSTEM_REASONS = new Map<string, FailureReason>([
  ['ETIMEDOUT', 'timeout'],
  ['ERR_TLS_HANDSHAKE_TIMEOUT', 'timeout'],
  ['ERR_SOCKET_CONNECTION_TIMEOUT', 'timeout'],
  ['ECONNREFUSED', 'refused'],
  ['ECONNRESET', 'reset'],
  ['EPIPE', 'reset'],
  ['ENOTFOUND', 'dns'],
  ['EAI_AGAIN', 'dns'],
])

function codeOf(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}

/**
 * undici's ProxyAgent reports a proxy that would not open a tunnel (it answered the
 * CONNECT with anything but 200: 407, 502...) as an abort, which the class alone cannot
 * tell from the caller's; its message is all that sets it apart.
 */
function isProxyRefusal(error: unknown): boolean {
  return error instanceof errors.RequestAbortedError && error.message.startsWith('Proxy response')
}

/** True when the caller's own signal ended the request: not an upstream failure. */
export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted === true) return true
  return error instanceof Error && error.name === 'AbortError' && !isProxyRefusal(error)
}

/**
 * The one place transport failures (refused, reset, DNS, timeouts, TLS) become a typed
 * error; the original stays as `cause` for the log.
 */
export function toTransportError(error: unknown, what: string, signal?: AbortSignal): Error {
  if (isAbort(error, signal)) return error instanceof Error ? error : new Error(String(error))
  return new UpstreamUnavailableError(`${what}: ${codeOf(error) ?? 'unknown'}`, { cause: error })
}

/** What went wrong with a request that got no answer, as a metric label. */
export function failureReason(error: unknown): FailureReason {
  if (error instanceof TransportFailure) return error.reason
  if (isProxyRefusal(error)) return 'proxy'
  for (const [type, reason] of UNDICI_REASONS) if (error instanceof type) return reason
  const code = codeOf(error) ?? ''
  const known = SYSTEM_REASONS.get(code)
  if (known !== undefined) return known
  if (code.startsWith('ERR_TLS') || code.includes('CERT')) return 'tls'
  return 'other'
}
