import type { Readable } from 'node:stream'
import { isOciErrorBody, toOciError, UpstreamStatusError } from '../errors.js'
import { readLimited } from '../http/body.js'

/** Registries' error documents are small; a bigger error body is not one. */
const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The upstream's framing of a body that is not the one sent. */
const FRAMING_HEADERS = ['content-length', 'content-encoding', 'transfer-encoding', 'content-type']

/** What this needs of fastify's reply, whichever server type reply-from declares it for. */
interface Reply {
  statusCode: number
  removeHeader(name: string): unknown
  type(contentType: string): Reply
  send(payload?: unknown): unknown
}

function isOciError(body: Buffer): boolean {
  try {
    return isOciErrorBody(JSON.parse(body.toString('utf8')))
  } catch {
    return false
  }
}

function replaceBody(reply: Reply, body: Buffer): void {
  for (const header of FRAMING_HEADERS) reply.removeHeader(header)
  const { body: oci } = toOciError(new UpstreamStatusError(reply.statusCode, {}, body))
  reply.type('application/json').send(oci)
}

/**
 * How a forwarded request's answer goes back to the client (reply-from's onResponse):
 * successes stream through untouched, and so do errors in the OCI format. An error whose
 * body is not (Distribution's router answers an unknown path with `404 page not found`
 * in plain text; proxies in front of registries answer with HTML) keeps its status and
 * headers, such as the rewritten challenge, and gets an OCI error body in its place, so
 * that every error a client sees from the mirror has the one format.
 */
export function relayAnswer(request: { method: string }, reply: Reply, res: { stream: Readable }): void {
  if (reply.statusCode < 400 || request.method === 'HEAD') {
    reply.send(res.stream)
    return
  }
  readLimited(res.stream, MAX_ERROR_BODY_BYTES).then(
    (body) => (isOciError(body) ? reply.send(body) : replaceBody(reply, body)),
    () => {
      res.stream.destroy()
      replaceBody(reply, Buffer.alloc(0))
    },
  )
}
