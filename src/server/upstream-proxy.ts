import httpProxy from '@fastify/http-proxy'
import replyFrom from '@fastify/reply-from'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Forward } from './pull-routes.js'

/** Push and delete: the mirror forwards them untouched and never caches what they carry. */
const WRITE_METHODS = ['DELETE', 'PATCH', 'POST', 'PUT', 'OPTIONS']

interface UpstreamTarget {
  origin: string
  basePath: string
  /** Upload `Location`s the upstream makes absolute are made relative, so the client stays here. */
  rewriteHeaders: (headers: IncomingHttpHeaders) => IncomingHttpHeaders
}

function targetOf(upstreamUrl: string): UpstreamTarget {
  const url = new URL(upstreamUrl)
  const basePath = url.pathname.replace(/\/+$/, '')
  const prefix = `${url.origin}${basePath}`
  return {
    origin: url.origin,
    basePath,
    rewriteHeaders: (headers) => {
      const location = headers.location
      if (typeof location === 'string' && location.startsWith(`${prefix}/`)) {
        return { ...headers, location: location.slice(prefix.length) }
      }
      return headers
    },
  }
}

/** Writes under /v2/ go to the upstream with @fastify/http-proxy, client headers and all. */
export async function registerWriteProxy(app: FastifyInstance, upstreamUrl: string): Promise<void> {
  const target = targetOf(upstreamUrl)
  await app.register(httpProxy, {
    upstream: target.origin,
    prefix: '/v2',
    rewritePrefix: `${target.basePath}/v2`,
    httpMethods: WRITE_METHODS,
    replyOptions: { rewriteHeaders: target.rewriteHeaders },
  })
}

/**
 * GETs the mirror does not model (the catalog, upload status) are forwarded the same way.
 * http-proxy keeps its reply-from to itself, so this scope registers its own.
 */
export async function registerReadForwarding(scope: FastifyInstance, upstreamUrl: string): Promise<Forward> {
  const target = targetOf(upstreamUrl)
  await scope.register(replyFrom, { base: target.origin })
  return (request, reply) => reply.from(`${target.basePath}${request.url}`, { rewriteHeaders: target.rewriteHeaders })
}
