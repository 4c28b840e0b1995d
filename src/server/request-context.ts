import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../mirror/request-context.js'

/** The mirror's view of a request: its logger, an abort signal for when the client leaves. */
export function contextOf(request: FastifyRequest, reply: FastifyReply): RequestContext {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client went away'))
  })
  return { log: request.log, signal: controller.signal, auth: { kind: 'mirror' } }
}
