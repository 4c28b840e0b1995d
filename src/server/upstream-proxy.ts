import httpProxy from '@fastify/http-proxy'
import replyFrom from '@fastify/reply-from'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { forwardableAuthorization } from '../auth/client-credentials.js'
import type { Forward } from './pull-routes.js'
import type { Origin, Realm } from './realm.js'
import { relayAnswer } from './relayed-answer.js'

/** Push and delete: the mirror forwards them untouched and never caches what they carry. */
const WRITE_METHODS = ['DELETE', 'PATCH', 'POST', 'PUT', 'OPTIONS']

/**
 * Client headers as they go upstream: a mirror-local token is the mirror's own and stays
 * here, and headers about the client's connection to the mirror stay with it (the mirror
 * answered `Expect: 100-continue` itself; undici refuses to send any of these).
 */
function upstreamRequestHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { expect: _e, upgrade: _u, 'keep-alive': _k, 'proxy-connection': _p, ...rest } = headers
  const authorization = forwardableAuthorization(headers.authorization)
  if (authorization === headers.authorization) return rest
  const { authorization: _dropped, ...others } = rest
  return others
}

interface UpstreamTarget {
  origin: string
  basePath: string
  /**
   * Upload `Location`s the upstream makes absolute are made relative, and challenges name
   * the mirror's realm, so the client stays on the mirror.
   */
  rewriteHeaders: (headers: IncomingHttpHeaders, request?: Origin) => IncomingHttpHeaders
}

function targetOf(upstreamUrl: string, realm: Realm): UpstreamTarget {
  const url = new URL(upstreamUrl)
  const basePath = url.pathname.replace(/\/+$/, '')
  const prefix = `${url.origin}${basePath}`
  return {
    origin: url.origin,
    basePath,
    rewriteHeaders: (headers, request) => {
      const out = { ...headers }
      if (typeof out.location === 'string' && out.location.startsWith(`${prefix}/`)) {
        out.location = out.location.slice(prefix.length)
      }
      const challenge = out['www-authenticate']
      if (challenge !== undefined && request !== undefined) out['www-authenticate'] = realm.relay(challenge, request)
      return out
    },
  }
}

/** Writes under /v2/ go to the upstream with @fastify/http-proxy, client headers and all. */
export async function registerWriteProxy(app: FastifyInstance, upstreamUrl: string, realm: Realm): Promise<void> {
  const target = targetOf(upstreamUrl, realm)
  await app.register(httpProxy, {
    upstream: target.origin,
    prefix: '/v2',
    rewritePrefix: `${target.basePath}/v2`,
    httpMethods: WRITE_METHODS,
    replyOptions: {
      onResponse: relayAnswer,
      rewriteHeaders: target.rewriteHeaders,
      rewriteRequestHeaders: (_request, headers) => upstreamRequestHeaders(headers),
    },
  })
}

/**
 * GETs the mirror does not model (the catalog, upload status) are forwarded the same way.
 * http-proxy keeps its reply-from to itself, so this scope registers its own.
 */
export async function registerReadForwarding(
  scope: FastifyInstance,
  upstreamUrl: string,
  realm: Realm,
): Promise<Forward> {
  const target = targetOf(upstreamUrl, realm)
  await scope.register(replyFrom, { base: target.origin })
  return (request, reply) =>
    reply.from(`${target.basePath}${request.url}`, {
      onResponse: relayAnswer,
      rewriteHeaders: target.rewriteHeaders,
      rewriteRequestHeaders: (_request, headers) => upstreamRequestHeaders(headers),
    })
}
