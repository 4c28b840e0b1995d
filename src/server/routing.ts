import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Mirror, Routed } from '../mirror/mirror.js'
import { repositoryOf } from '../oci/api-path.js'
import { namespacesOf } from '../oci/registry-host.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The upstream a /v2/ request is for, decided once before any handler runs. */
    routed: Routed | undefined
  }
}

/**
 * Routes every request under /v2/ to its upstream before anything else looks at it: the
 * pull routes, the forwarded reads and the writes all use this one answer, and a request
 * for a registry the mirror does not serve is refused here, before any upstream or the
 * cache is asked.
 */
export function installRouting(app: FastifyInstance, mirror: Mirror): void {
  app.decorateRequest('routed', undefined)
  app.addHook('onRequest', (request, _reply, done) => {
    const url = request.url
    if (url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?')) {
      request.routed = mirror.route(repositoryOf(url), namespacesOf(url))
    }
    done()
  })
}

/** The request's upstream; only /v2/ routes ask, and those are always routed. */
export function routedOf(request: FastifyRequest): Routed {
  if (request.routed === undefined) throw new Error(`${request.url} was not routed`)
  return request.routed
}

/**
 * The upstream label of a request's metrics: the name of a configured upstream, never a
 * name a client sent, so the label stays bounded; empty when no upstream answered it.
 */
export function upstreamLabel(request: FastifyRequest): string {
  return request.routed?.upstream.name ?? ''
}
