import replyFrom from '@fastify/reply-from'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { UpstreamOfflineError } from '../errors.js'
import type { Mirror, Routed } from '../mirror/mirror.js'
import type { UpstreamMirror } from '../mirror/upstream-mirror.js'
import { parseApiPath, repositoryOf } from '../oci/api-path.js'
import type { Forward } from './pull-routes.js'
import type { Realm } from './realm.js'
import { relayAnswer } from './relayed-answer.js'
import { routedOf } from './routing.js'

/** Push and delete: the mirror forwards them untouched and never caches what they carry. */
const WRITE_METHODS = ['DELETE', 'PATCH', 'POST', 'PUT', 'OPTIONS']

/**
 * Client headers as they go to `upstream`: the mirror's own tokens stay here (a sealed
 * one goes as the Basic credentials it holds, to the upstream it was minted for only),
 * and headers about the client's connection to the mirror stay with it (the mirror
 * answered `Expect: 100-continue` itself; undici refuses to send any of these).
 */
function upstreamRequestHeaders(headers: IncomingHttpHeaders, upstream: UpstreamMirror): IncomingHttpHeaders {
  const { expect: _e, upgrade: _u, 'keep-alive': _k, 'proxy-connection': _p, authorization: _a, ...rest } = headers
  const credentials = upstream.auth.credentials(headers.authorization)
  return credentials.kind === 'forward' ? { ...rest, authorization: credentials.authorization } : rest
}

/** A raw query string without its `ns` parameters, the others kept byte for byte. */
function withoutNs(query: string): string {
  return query
    .split('&')
    .filter((part) => part !== '' && part.split('=')[0] !== 'ns')
    .join('&')
}

/**
 * The client's request target as the routed upstream takes it: the registry prefix
 * gone, the repository named as the upstream names it (default namespace applied, and
 * refused when the upstream's allow and deny lists say so), no `ns`.
 */
export function upstreamTarget(url: string, routed: Routed): { path: string; query: string; repo?: string } {
  const mark = url.indexOf('?')
  const path = mark < 0 ? url : url.slice(0, mark)
  const query = mark < 0 ? '' : withoutNs(url.slice(mark + 1))
  const asked = repositoryOf(url)
  if (asked === undefined || routed.name === undefined) return { path, query }
  const repo = routed.upstream.repository(routed.name)
  return { path: `/v2/${repo}${path.slice(`/v2/${asked}`.length)}`, query, repo }
}

/** The tag a manifest PUT or DELETE names; undefined for any other request, or a digest. */
function writtenTag(request: FastifyRequest): string | undefined {
  if (request.method !== 'PUT' && request.method !== 'DELETE') return undefined
  const path = parseApiPath(request.url)
  return path.kind === 'manifest' && !path.reference.includes(':') ? path.reference : undefined
}

/** Whether the upstream took the push (201) or the deletion (202). */
function accepted(request: FastifyRequest, reply: FastifyReply): boolean {
  return request.method === 'PUT' ? reply.statusCode === 201 : reply.statusCode === 202
}

/**
 * An upstream `Location` as the client should follow it: relative to the mirror, and
 * with the registry prefix that brings it back to the same upstream (the one the client
 * used, or the upstream's name when it is not the default), so that an upload session
 * continues where it began. Locations elsewhere (a storage redirect) are left alone.
 */
export function clientLocation(location: string, upstreamUrl: string, prefix: string | undefined): string {
  const url = new URL(upstreamUrl)
  const basePath = url.pathname.replace(/\/+$/, '')
  let path: string
  if (location.startsWith(`${url.origin}${basePath}/`)) path = location.slice(url.origin.length + basePath.length)
  else if (location.startsWith('/') && !location.startsWith('//')) {
    path = basePath !== '' && location.startsWith(`${basePath}/`) ? location.slice(basePath.length) : location
  } else return location
  return prefix !== undefined && path.startsWith('/v2/') ? `/v2/${prefix}${path.slice('/v2'.length)}` : path
}

/**
 * Requests the mirror does not model (pushes, deletes, the catalog, upload status) go to
 * the upstream they are routed to, client headers and body as they are, never cached.
 * Challenges name the mirror's realm and upload `Location`s stay on the mirror.
 */
export async function registerForwarding(
  app: FastifyInstance,
  mirror: Mirror,
  realm: Realm,
  dispatcher: Dispatcher,
): Promise<Forward> {
  // No base: each request names its upstream's origin, and the dispatcher its proxy.
  await app.register(replyFrom, { undici: dispatcher })
  const forward = (request: FastifyRequest, reply: FastifyReply) => {
    const routed = routedOf(request)
    if (routed.upstream.offline) throw new UpstreamOfflineError(routed.upstream.name, 'other')
    const { path, query, repo } = upstreamTarget(request.url, routed)
    const prefix = routed.prefix ?? (routed.upstream === mirror.default ? undefined : routed.upstream.name)
    const tag = repo === undefined ? undefined : writtenTag(request)
    return reply.from(`${routed.upstream.url}${path}`, {
      queryString: () => query,
      // A tag pushed or deleted here is forgotten before the client hears of it, so that
      // its next pull through the mirror sees the new digest.
      onResponse:
        tag === undefined || repo === undefined
          ? relayAnswer
          : (_request, _reply, response) => {
              const forget = accepted(request, reply)
                ? routed.upstream.manifests.tagChanged(request, repo, tag)
                : Promise.resolve()
              void forget.then(() => relayAnswer(request, reply, response))
            },
      rewriteRequestHeaders: (_request, headers) => upstreamRequestHeaders(headers, routed.upstream),
      rewriteHeaders: (headers) => {
        const out = { ...headers }
        if (typeof out.location === 'string') out.location = clientLocation(out.location, routed.upstream.url, prefix)
        const challenge = out['www-authenticate']
        if (challenge !== undefined) out['www-authenticate'] = realm.relay(challenge, request)
        return out
      },
    })
  }
  await app.register(async (scope) => {
    // Bodies (layers, manifests) stream through as they arrive, whatever their type.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, payload, done) => {
      done(null, payload)
    })
    scope.route({ method: WRITE_METHODS, url: '/v2', handler: forward })
    scope.route({ method: WRITE_METHODS, url: '/v2/*', handler: forward })
  })
  return forward
}
