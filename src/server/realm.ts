import type { Mirror } from '../mirror/mirror.js'

/** Where the mirror's token endpoint lives, as the client sees it. */
export const TOKEN_PATH = '/token'

/** What the realm URL is derived from: fastify's request has both. */
export interface Origin {
  protocol: string
  host: string
}

/** The token realm URL to give a client, and the upstream challenges rewritten for it. */
export interface Realm {
  url(request: Origin): string
  relay(header: string | string[], request: Origin): string
}

/**
 * The realm is the mirror's own URL: the configured public URL, or the scheme and Host
 * the request came in with (a mirror behind a TLS proxy sets MIRROR_PUBLIC_URL).
 */
export function realmOf(mirror: Mirror, publicUrl: string | undefined): Realm {
  const url = (request: Origin) => `${publicUrl ?? `${request.protocol}://${request.host}`}${TOKEN_PATH}`
  return { url, relay: (header, request) => mirror.default.auth.relayChallenge(header, url(request)) }
}
