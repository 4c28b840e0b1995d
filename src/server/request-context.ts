import type { FastifyRequest } from 'fastify'
import { classifyAuthorization } from '../auth/client-credentials.js'
import type { RequestContext } from '../mirror/request-context.js'

/**
 * The mirror's view of a request: its logger, a signal for when the client leaves, its
 * credentials as the upstream it is routed to takes them (a sealed token opens there
 * only; unrouted, it opens nowhere). The signal is made when first asked for: fastify
 * builds an AbortController and a listener on the request for it, which an answer from
 * the cache never needs.
 */
export function contextOf(request: FastifyRequest): RequestContext {
  return {
    log: request.log,
    get signal() {
      // Asked for after the client left, it is aborted already: fastify's listener would
      // come too late to see the close.
      return request.raw.closed ? AbortSignal.abort() : request.signal
    },
    credentials:
      request.routed?.upstream.auth.credentials(request.headers.authorization) ??
      classifyAuthorization(request.headers.authorization),
    trace: request.upstreamTrace,
  }
}
