export class ProtocolError extends Error {
  readonly code = 'HPE_INVALID_RESPONSE'
}

/** The connection was found closed before it answered: safe to ask again on a new one. */
export class StaleConnection extends Error {}

export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof Error) return reason
  const error = new Error('the request was aborted')
  error.name = 'AbortError'
  return error
}

export function premature(error: Error): Error {
  if (!(error instanceof StaleConnection)) return error
  const closed = new Error('upstream closed the connection before the response ended')
  Object.assign(closed, { code: 'UND_ERR_SOCKET' })
  return closed
}
