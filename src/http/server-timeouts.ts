import type { Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'

const timeout = (value: unknown): number => (typeof value === 'number' ? value : 0)

/**
 * The timeouts fastify sets on the servers it makes itself, for a server made by a
 * `serverFactory` (fastify then sets none): `options` are the ones fastify hands the factory.
 */
export function withFastifyTimeouts<S extends HttpServer | HttpsServer>(
  server: S,
  options: Record<string, unknown>,
): S {
  server.keepAliveTimeout = timeout(options.keepAliveTimeout)
  server.requestTimeout = timeout(options.requestTimeout)
  server.setTimeout(timeout(options.connectionTimeout))
  return server
}
