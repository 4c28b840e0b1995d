import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errors, ociErrorBody, toOciError } from '../errors.js'
import { parseApiPath } from '../oci/api-path.js'
import type { Realm } from './realm.js'

function send(reply: FastifyReply, error: unknown, realm?: Realm): FastifyReply {
  const { status, headers, body } = toOciError(error)
  const challenge = headers['www-authenticate']
  // A relayed 401 points the client at a realm it can reach (the mirror's, by default).
  const relayed =
    challenge === undefined || realm === undefined
      ? headers
      : { ...headers, 'www-authenticate': realm.relay(challenge, reply.request) }
  return reply.code(status).headers(relayed).type('application/json').send(body)
}

/**
 * Errors fastify raises before routing (a URL whose percent-escapes do not decode, a
 * malformed header): its own replies are not in the OCI format, so they come here.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const badPath = error.code === 'FST_ERR_BAD_URL' && request.url.startsWith('/v2/')
  void send(reply, badPath ? undecodablePathError(request.url) : error)
}

/**
 * Under /v2/ the path is a repository name and a reference or digest: the part that does
 * not decode says which is invalid, and anything else there is an invalid name.
 */
function undecodablePathError(url: string): unknown {
  try {
    parseApiPath(url)
  } catch (e) {
    return e
  }
  return errors.nameInvalid(url)
}

/**
 * Requests Node's HTTP parser refuses (headers too large, not HTTP at all, too slow) never
 * reach fastify; the answer is written to the socket, in the OCI format like every other.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request header fields too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request not received in time']
        : [400, 'malformed HTTP request']
  const body = JSON.stringify(ociErrorBody('UNSUPPORTED', message))
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

/**
 * Answers a request with an error without logging it as a failure: for refusals that are
 * part of normal operation (its request line still records them).
 */
export function refuse(reply: FastifyReply, error: unknown): FastifyReply {
  return send(reply, error)
}

/** Every error a client sees is written here, in the OCI `{"errors":[…]}` format. */
export function installErrorHandling(app: FastifyInstance, realm: Realm): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status } = toOciError(error)
    // A client whose connection is gone sees no answer: most often its own request broke
    // off (a body cut short, a reset) and that is what failed here. Not the mirror's error.
    if (status >= 500 && request.raw.socket.destroyed) request.log.info({ err: error }, 'request failed, client gone')
    else if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.debug({ err: error }, 'request refused')
    return send(reply, error, realm)
  })
  app.setNotFoundHandler((_request, reply) => send(reply, errors.notFound()))
}
