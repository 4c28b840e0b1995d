import { UpstreamUnavailableError } from '../errors.js'

/** True when the caller's own signal ended the request: not an upstream failure. */
export function isAbort(error: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (error as Error | undefined)?.name === 'AbortError'
}

/**
 * The one place transport failures (refused, reset, DNS, timeouts, TLS) become a typed
 * error; the original stays as `cause` for the log.
 */
export function toTransportError(error: unknown, what: string, signal?: AbortSignal): Error {
  if (isAbort(error, signal)) return error instanceof Error ? error : new Error(String(error))
  const code = (error as { code?: string } | undefined)?.code ?? 'unknown'
  return new UpstreamUnavailableError(`${what}: ${code}`, { cause: error })
}

/** A bounded label for a transport failure: what went wrong, not where. */
export function failureReason(error: unknown): string {
  const code = (error as { code?: string } | undefined)?.code ?? ''
  if (code.includes('TIMEOUT')) return 'timeout'
  if (code === 'ECONNREFUSED') return 'refused'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'reset'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns'
  if (code.startsWith('ERR_TLS') || code.includes('CERT')) return 'tls'
  return 'other'
}
