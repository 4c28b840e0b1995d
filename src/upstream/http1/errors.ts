import { TransportFailure } from '../../http/transport-errors.js'

/** No connection within the connect timeout, or silence past the timeout while waiting for an answer. */
export class Http1TimeoutError extends TransportFailure {
  override readonly name = 'Http1TimeoutError'
  override readonly code = 'H1_TIMEOUT'
  override readonly reason = 'timeout'
}

/** The upstream closed the connection before its answer was complete. */
export class Http1SocketClosedError extends TransportFailure {
  override readonly name = 'Http1SocketClosedError'
  override readonly code = 'H1_SOCKET_CLOSED'
  override readonly reason = 'reset'
}

/** The upstream's bytes break HTTP/1.1 (a malformed head, more than its Content-Length). */
export class Http1ProtocolError extends TransportFailure {
  override readonly name = 'Http1ProtocolError'
  override readonly code = 'H1_PROTOCOL'
  override readonly reason = 'other'
}

/**
 * The connection was found closed before it answered: safe to ask again on a new one.
 * Never leaves http1/: it becomes a retry or an Http1SocketClosedError.
 */
export class StaleConnection extends Error {}

export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof Error) return reason
  const error = new Error('the request was aborted')
  error.name = 'AbortError'
  return error
}

/** The error a request ends with when its connection closed: a stale one is a premature close. */
export function premature(error: Error): Error {
  if (!(error instanceof StaleConnection)) return error
  return new Http1SocketClosedError('upstream closed the connection before the response ended', { cause: error })
}
