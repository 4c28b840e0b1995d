import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TokenRequest } from '../auth/token-relay.js'
import { ociErrorBody } from '../errors.js'
import type { Mirror } from '../mirror/mirror.js'
import type { UpstreamMirror } from '../mirror/upstream-mirror.js'
import { namespacesOf } from '../oci/registry-host.js'
import { TOKEN_PATH, type Realm } from './realm.js'

/**
 * The `/v2/` ping: 200, or 401 with the challenge that sends a client to a realm. A ping
 * with `ns` is for that upstream alone; one without speaks for every upstream.
 */
export async function ping(upstream: UpstreamMirror, realm: Realm, request: FastifyRequest, reply: FastifyReply) {
  const credentials = upstream.auth.credentials(request.headers.authorization)
  const pinned = namespacesOf(request.url).length > 0
  const challenge = await upstream.auth.pingChallenge(credentials, realm.url(request), pinned)
  if (challenge === undefined) return reply.send({})
  return reply
    .code(401)
    .header('www-authenticate', challenge)
    .send(ociErrorBody('UNAUTHORIZED', 'authentication required'))
}

/**
 * The mirror's token endpoint: GET (Docker's flow) and POST (OAuth2 forms, which
 * containerd tries first), forwarded to the realm of the upstream it is for (see
 * Mirror.token) with the client's credentials and answered with exactly what the realm
 * answered.
 */
export function registerTokenRoutes(app: FastifyInstance, mirror: Mirror): void {
  void app.register(async (scope) => {
    // Token request bodies are passed on as they are, whatever their type.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, body, done) => {
      done(null, body)
    })
    const handler = async (request: FastifyRequest<{ Params: { registry?: string } }>, reply: FastifyReply) => {
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : ''
      const scoped: TokenRequest = {
        method: request.method === 'POST' ? 'POST' : 'GET',
        query,
        contentType: request.headers['content-type'],
        body: Buffer.isBuffer(request.body) ? request.body : undefined,
      }
      const { upstream, rename } = mirror.tokenRoute(request.params.registry?.toLowerCase(), scoped)
      request.routed = { upstream, name: undefined, prefix: undefined }
      // The mirror's own tokens mean nothing to a realm: a mirror-local one, or a sealed
      // one for another upstream, goes as anonymous; one sealed here, as its credentials.
      const credentials = upstream.auth.credentials(request.headers.authorization)
      const asked = credentials.kind === 'forward' ? { ...scoped, authorization: credentials.authorization } : scoped
      const answer = await upstream.auth.token(asked, rename)
      return reply.code(answer.status).header('cache-control', 'no-store').type(answer.contentType).send(answer.body)
    }
    scope.route({ method: ['GET', 'POST'], url: TOKEN_PATH, handler })
    // The realm an upstream's challenges name: its token requests go to its realm.
    scope.route({ method: ['GET', 'POST'], url: `${TOKEN_PATH}/:registry`, handler })
  })
}
