import type { FastifyRequest } from 'fastify'
import type { RequestContext } from '../mirror/request-context.js'

/** The mirror's view of a request: its logger, and a signal that aborts if the client leaves. */
export function contextOf(request: FastifyRequest): RequestContext {
  return { log: request.log, signal: request.signal, auth: { kind: 'mirror' } }
}
