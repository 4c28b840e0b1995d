import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { CacheOutcome } from '../mirror/request-context.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** How the mirror served this request, for the request log line. */
    cacheOutcome: CacheOutcome | undefined
  }
}

export function setOutcome(request: FastifyRequest, outcome: CacheOutcome): void {
  request.cacheOutcome = outcome
}

/**
 * One log line per request, fields first: what was asked, how it was served and how long
 * it took. Headers are never logged, so credentials cannot reach the log from here.
 */
export function installRequestLog(app: FastifyInstance): void {
  app.decorateRequest('cacheOutcome', undefined)
  app.addHook('onResponse', async (request, reply) => {
    const length = reply.getHeader('content-length')
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        outcome: request.cacheOutcome,
        bytes: length === undefined ? undefined : Number(length),
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    )
  })
}
