import type { FastifyInstance } from 'fastify'
import { errors } from '../errors.js'
import { refuse } from './error-handler.js'

/**
 * While the server closes, a request that still arrives, on a connection kept alive or
 * pipelined behind a transfer, is refused with 503 UNAVAILABLE in the OCI format (fastify's
 * own 503, `return503OnClosing`, has a body of its own); fastify adds `Connection: close`.
 */
export function refuseWhileClosing(server: FastifyInstance): void {
  let closing = false
  server.addHook('preClose', async () => {
    closing = true
  })
  server.addHook('onRequest', (_request, reply, done) => {
    if (closing) refuse(reply, errors.shuttingDown())
    else done()
  })
}
