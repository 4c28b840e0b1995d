import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { MirrorError } from '../errors.js'
import type { Mirror } from '../mirror/mirror.js'
import { parseDigest } from '../oci/digest.js'
import { PEER_SECRET_HEADER } from '../upstream/peer-client.js'
import { sendBody, type PullRouteDeps } from './pull-routes.js'

function sameSecret(given: string | string[] | undefined, secret: string): boolean {
  if (typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(secret)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The replicas' internal route: a blob this replica has verified and cached, or is
 * downloading now (its last byte held until verified, as for any client), only for
 * peers that present the shared secret.
 */
export function registerPeerRoutes(
  app: FastifyInstance,
  mirror: Mirror,
  secret: string,
  countSent: PullRouteDeps['countSent'],
): void {
  app.get<{ Params: { digest: string } }>('/_peer/blobs/:digest', async (request, reply) => {
    if (!sameSecret(request.headers[PEER_SECRET_HEADER], secret)) {
      throw new MirrorError('DENIED', 403, 'peers only')
    }
    const digest = parseDigest(request.params.digest)
    const body = await mirror.blobs.forPeer(digest, request.headers.range)
    return sendBody({ countSent }, reply, body, {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest.value,
    })
  })
}
