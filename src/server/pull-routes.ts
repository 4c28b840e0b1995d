import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { BlobBody } from '../mirror/results.js'
import type { Mirror } from '../mirror/mirror.js'
import { parseApiPath } from '../oci/api-path.js'
import { parseDigest } from '../oci/digest.js'
import { parsePageSize } from '../oci/pagination.js'
import { contentRange, rangeLength } from '../oci/range.js'
import { parseReference } from '../oci/reference.js'
import { ping } from './auth-routes.js'
import { setOutcome } from './outcome.js'
import type { Realm } from './realm.js'
import { contextOf } from './request-context.js'
import { readFirst, sendBytes } from './send-bytes.js'

export type Forward = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> | FastifyReply

/** Blobs never change under a digest: clients and proxies may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
/** A private repository's content: the client may keep it, no shared cache may. */
const PRIVATE = 'private'

function firstQuery(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, string | string[] | undefined>)[name]
  return Array.isArray(value) ? value[0] : value
}

/** `If-None-Match` naming the digest: the client already holds exactly these bytes. */
function clientHas(request: FastifyRequest, digest: string): boolean {
  const header = request.headers['if-none-match']
  return header !== undefined && header.split(',').some((tag) => tag.trim() === `"${digest}"`)
}

async function manifest(mirror: Mirror, request: FastifyRequest, reply: FastifyReply, name: string, reference: string) {
  const repo = mirror.repository(name)
  const ref = parseReference(reference)
  const head = request.method === 'HEAD'
  const result = await mirror.manifests.get(contextOf(request), repo, ref, request.headers.accept, !head)
  setOutcome(request, result.outcome)
  reply.headers({
    'content-type': result.mediaType,
    'docker-content-digest': result.digest,
    etag: `"${result.digest}"`,
  })
  if (result.private) reply.header('cache-control', PRIVATE)
  if (clientHas(request, result.digest)) return reply.code(304).send()
  if (head) return reply.header('content-length', result.size).send()
  return reply.send(result.body)
}

async function blob(mirror: Mirror, request: FastifyRequest, reply: FastifyReply, name: string, digestText: string) {
  const repo = mirror.repository(name)
  const digest = parseDigest(digestText)
  reply.headers({
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest.value,
    etag: `"${digest.value}"`,
    'accept-ranges': 'bytes',
    'cache-control': IMMUTABLE,
  })
  if (clientHas(request, digest.value)) return reply.code(304).send()
  const ctx = contextOf(request)
  if (request.method === 'HEAD') {
    const head = await mirror.blobs.head(ctx, repo, digest)
    setOutcome(request, head.outcome)
    if (head.private) reply.header('cache-control', PRIVATE)
    return reply.header('content-length', head.size).send()
  }
  const body = await mirror.blobs.get(ctx, repo, digest, request.headers.range)
  setOutcome(request, body.outcome)
  if (body.private) reply.header('cache-control', PRIVATE)
  if (body.range !== undefined && body.size !== undefined) {
    reply.code(206).headers({
      'content-range': contentRange(body.range, body.size),
      'content-length': rangeLength(body.range),
    })
  } else if (body.size !== undefined) {
    reply.header('content-length', body.size)
  }
  return sendBody(reply, body)
}

/** Streams a blob body once its first bytes are in hand. */
async function sendBody(reply: FastifyReply, body: BlobBody): Promise<void> {
  const start = body.range?.start ?? 0
  const end = body.range?.end ?? (body.size === undefined ? Infinity : body.size - 1)
  let plan
  try {
    plan = await readFirst(body.source, start, end)
  } catch (e) {
    await body.source.close()
    throw e
  }
  reply.hijack()
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders)
  await sendBytes(reply.raw, body.source, plan).catch((e: unknown) => {
    reply.log.warn({ err: e, bytes: end - start + 1 }, 'blob transfer cut')
  })
}

async function tags(mirror: Mirror, request: FastifyRequest, reply: FastifyReply, name: string) {
  const repo = mirror.repository(name)
  const n = parsePageSize(firstQuery(request, 'n'))
  const last = firstQuery(request, 'last')
  const list = await mirror.tags.list(contextOf(request), repo, n, last)
  if (list.private) reply.header('cache-control', PRIVATE)
  if (list.page.next !== undefined && n !== undefined) {
    const query = new URLSearchParams({ n: String(n), last: list.page.next })
    reply.header('link', `</v2/${name}/tags/list?${query.toString()}>; rel="next"`)
  }
  return reply.send({ name: list.name, tags: list.page.items })
}

async function referrers(
  mirror: Mirror,
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  digestText: string,
) {
  const repo = mirror.repository(name)
  const digest = parseDigest(digestText)
  const artifactType = firstQuery(request, 'artifactType')
  const response = await mirror.referrers.get(contextOf(request), repo, digest.value, artifactType)
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
export function registerPullRoutes(scope: FastifyInstance, mirror: Mirror, realm: Realm, forward: Forward): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = parseApiPath(request.url)
    switch (path.kind) {
      case 'ping':
        return ping(mirror, realm, request, reply)
      case 'manifest':
        return manifest(mirror, request, reply, path.name, path.reference)
      case 'blob':
        return blob(mirror, request, reply, path.name, path.digest)
      case 'tags':
        return tags(mirror, request, reply, path.name)
      case 'referrers':
        return referrers(mirror, request, reply, path.name, path.digest)
      case 'other':
        return forward(request, reply)
    }
  }
  scope.route({ method: ['GET', 'HEAD'], url: '/v2', handler })
  scope.route({ method: ['GET', 'HEAD'], url: '/v2/*', handler })
}
