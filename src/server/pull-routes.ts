import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Routed } from '../mirror/mirror.js'
import type { UpstreamMirror } from '../mirror/upstream-mirror.js'
import type { BlobBody } from '../mirror/results.js'
import { parseApiPath } from '../oci/api-path.js'
import { parseDigest } from '../oci/digest.js'
import { parsePageSize } from '../oci/pagination.js'
import { contentRange, rangeLength } from '../oci/range.js'
import { parseReference } from '../oci/reference.js'
import { namespacesOf } from '../oci/registry-host.js'
import { ping } from './auth-routes.js'
import type { Realm } from './realm.js'
import { contextOf } from './request-context.js'
import { routedOf, upstreamLabel } from './routing.js'
import { setOutcome } from './request-record.js'
import { readFirst, sendBytes } from './send-bytes.js'

export type Forward = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> | FastifyReply

export interface PullRouteDeps {
  realm: Realm
  /** Paths the mirror does not model go here, to the upstream. */
  forward: Forward
  /** Body bytes sent to a client, by where they came from. */
  countSent: CountSent
}

/** Counts body bytes sent to clients, by where they came from and the upstream the request was for. */
export type CountSent = (source: 'cache' | 'upstream' | 'peer', bytes: number, upstream: string) => void

/** Blobs never change under a digest: clients and proxies may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
/** A private repository's content: the client may keep it, no shared cache may. */
const PRIVATE = 'private'

/** The query parameters the pull API reads; a repeated one arrives as an array. */
interface PullQuery {
  n?: string | string[]
  last?: string | string[]
  artifactType?: string | string[]
}

type PullRequest = FastifyRequest<{ Querystring: PullQuery }>

function firstQuery(request: PullRequest, name: keyof PullQuery): string | undefined {
  const value = request.query[name]
  return Array.isArray(value) ? value[0] : value
}

/** The upstream a repository route is for, and the repository's name there. */
function repositoryIn(routed: Routed): { upstream: UpstreamMirror; repo: string } {
  if (routed.name === undefined) throw new Error('a repository route without a repository')
  return { upstream: routed.upstream, repo: routed.upstream.repository(routed.name) }
}

/** `If-None-Match` naming the digest: the client already holds exactly these bytes. */
function clientHas(request: FastifyRequest, digest: string): boolean {
  const header = request.headers['if-none-match']
  return header !== undefined && header.split(',').some((tag) => tag.trim() === `"${digest}"`)
}

async function manifest(deps: PullRouteDeps, request: FastifyRequest, reply: FastifyReply, ref: string) {
  const { upstream, repo } = repositoryIn(routedOf(request))
  const reference = parseReference(ref)
  const head = request.method === 'HEAD'
  const result = await upstream.manifests.get(contextOf(request), repo, reference, request.headers.accept, !head)
  setOutcome(request, result.outcome)
  reply.headers({
    'content-type': result.mediaType,
    'docker-content-digest': result.digest,
    etag: `"${result.digest}"`,
  })
  if (result.private) reply.header('cache-control', PRIVATE)
  if (clientHas(request, result.digest)) return reply.code(304).send()
  if (head || result.body === undefined) return reply.header('content-length', result.size).send()
  const fromCache = result.outcome === 'hit' || result.outcome === 'stale' || result.outcome === 'revalidated'
  deps.countSent(fromCache ? 'cache' : 'upstream', result.body.length, upstream.name)
  return reply.send(result.body)
}

/** What every blob answer says of the bytes under a digest; `private` ones no shared cache may keep. */
function blobHeaders(digest: string, isPrivate: boolean): OutgoingHttpHeaders {
  return {
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    etag: `"${digest}"`,
    'accept-ranges': 'bytes',
    'cache-control': isPrivate ? PRIVATE : IMMUTABLE,
  }
}

async function blob(deps: PullRouteDeps, request: FastifyRequest, reply: FastifyReply, text: string) {
  const { upstream, repo } = repositoryIn(routedOf(request))
  const digest = parseDigest(text)
  // The digest is the whole answer: the mirror need not be asked.
  if (clientHas(request, digest.value)) return reply.code(304).headers(blobHeaders(digest.value, false)).send()
  const ctx = contextOf(request)
  if (request.method === 'HEAD') {
    const head = await upstream.blobs.head(ctx, repo, digest)
    setOutcome(request, head.outcome)
    return reply.headers({ ...blobHeaders(digest.value, head.private), 'content-length': head.size }).send()
  }
  const body = await upstream.blobs.get(ctx, repo, digest, request.headers.range)
  setOutcome(request, body.outcome)
  return sendBody(deps, reply, body, blobHeaders(digest.value, body.private))
}

/** Status and length of a blob answer: 206 with its Content-Range for a range. */
function framing(body: BlobBody): { status: number; headers: OutgoingHttpHeaders } {
  if (body.range !== undefined && body.size !== undefined) {
    return {
      status: 206,
      headers: { 'content-range': contentRange(body.range, body.size), 'content-length': rangeLength(body.range) },
    }
  }
  return { status: 200, headers: body.size === undefined ? {} : { 'content-length': body.size } }
}

/**
 * Streams a blob body once its first bytes are in hand. Only then do `headers` and the
 * status go on the reply: a body that fails before its first byte becomes an error
 * answer with none of them.
 */
export async function sendBody(
  deps: Pick<PullRouteDeps, 'countSent'>,
  reply: FastifyReply,
  body: BlobBody,
  headers: OutgoingHttpHeaders,
): Promise<void> {
  const start = body.range?.start ?? 0
  const end = body.range?.end ?? (body.size === undefined ? Infinity : body.size - 1)
  let plan
  try {
    plan = await readFirst(body.source, start, end)
  } catch (e) {
    await body.source.close()
    throw e
  }
  const { status, headers: length } = framing(body)
  // On the reply too, not only on the wire: the request's log line reads them.
  reply.code(status).headers({ ...headers, ...length })
  reply.hijack()
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
  const origin = body.source.origin
  const upstream = upstreamLabel(reply.request)
  await sendBytes(reply.raw, body.source, plan, (n) => deps.countSent(origin, n, upstream)).catch((e: unknown) => {
    reply.log.warn({ err: e, bytes: end - start + 1 }, 'blob transfer cut')
  })
}

async function tags(request: PullRequest, reply: FastifyReply, name: string) {
  const { upstream, repo } = repositoryIn(routedOf(request))
  const n = parsePageSize(firstQuery(request, 'n'))
  const last = firstQuery(request, 'last')
  const list = await upstream.tags.list(contextOf(request), repo, n, last)
  if (list.private) reply.header('cache-control', PRIVATE)
  if (list.page.next !== undefined && n !== undefined) {
    const query = new URLSearchParams({ n: String(n), last: list.page.next })
    // The next page must reach the same registry, whatever named it.
    for (const ns of namespacesOf(request.url)) query.append('ns', ns)
    reply.header('link', `</v2/${name}/tags/list?${query.toString()}>; rel="next"`)
  }
  return reply.send({ name: list.name, tags: list.page.items })
}

async function referrers(request: PullRequest, reply: FastifyReply, text: string) {
  const { upstream, repo } = repositoryIn(routedOf(request))
  const digest = parseDigest(text)
  const artifactType = firstQuery(request, 'artifactType')
  const response = await upstream.referrers.get(contextOf(request), repo, digest.value, artifactType)
  if (response.private) reply.header('cache-control', PRIVATE)
  for (const header of ['content-type', 'content-length', 'link', 'oci-filters-applied']) {
    const value = response.headers[header]
    if (value !== undefined) reply.header(header, value)
  }
  return reply.send(response.body)
}

/**
 * GET and HEAD under /v2/: the pull API the mirror implements itself. Paths it does not
 * model (catalog, upload sessions) go to `forward`, unchanged.
 */
export function registerPullRoutes(scope: FastifyInstance, deps: PullRouteDeps): void {
  const handler = async (request: PullRequest, reply: FastifyReply) => {
    const path = parseApiPath(request.url)
    switch (path.kind) {
      case 'ping':
        return ping(routedOf(request).upstream, deps.realm, request, reply)
      case 'manifest':
        return manifest(deps, request, reply, path.reference)
      case 'blob':
        return blob(deps, request, reply, path.digest)
      case 'tags':
        return tags(request, reply, path.name)
      case 'referrers':
        return referrers(request, reply, path.digest)
      case 'other':
        return deps.forward(request, reply)
    }
  }
  scope.route<{ Querystring: PullQuery }>({ method: ['GET', 'HEAD'], url: '/v2', handler })
  scope.route<{ Querystring: PullQuery }>({ method: ['GET', 'HEAD'], url: '/v2/*', handler })
}
