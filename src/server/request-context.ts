import type { FastifyRequest } from 'fastify'
import { classifyAuthorization } from '../auth/client-credentials.js'
import type { RequestContext } from '../mirror/request-context.js'

/** The mirror's view of a request: its logger, a signal for when the client leaves, its credentials. */
export function contextOf(request: FastifyRequest): RequestContext {
  return {
    log: request.log,
    signal: request.signal,
    credentials: classifyAuthorization(request.headers.authorization),
    trace: request.upstreamTrace,
  }
}
