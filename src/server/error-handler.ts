import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errors, toOciError } from '../errors.js'

/** Headers a success path may have set before it failed; they must not leak into an error. */
const SUCCESS_HEADERS = ['docker-content-digest', 'etag', 'content-range', 'accept-ranges', 'cache-control']

function send(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, headers, body } = toOciError(error)
  for (const name of SUCCESS_HEADERS) reply.removeHeader(name)
  return reply.code(status).headers(headers).type('application/json').send(body)
}

/** Every error a client sees is written here, in the OCI `{"errors":[…]}` format. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status } = toOciError(error)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.debug({ err: error }, 'request refused')
    return send(reply, error)
  })
  app.setNotFoundHandler((_request, reply) => send(reply, errors.notFound()))
}
