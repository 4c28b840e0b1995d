import type { Mirror, Routed } from '../mirror/mirror.js'

/** Where the mirror's token endpoint lives, as the client sees it. */
export const TOKEN_PATH = '/token'

/** What the realm URL is derived from: fastify's request has all of it. */
export interface Origin {
  protocol: string
  host: string
  /** The upstream the request is for; the default when it was not routed (the token route). */
  routed?: Routed | undefined
}

/** The token realm URL to give a client, and the upstream challenges rewritten for it. */
export interface Realm {
  url(request: Origin): string
  relay(header: string | string[], request: Origin): string
}

/**
 * The realm is the mirror's own URL: the configured public URL, or the scheme and Host
 * the request came in with (a mirror behind a TLS proxy sets MIRROR_PUBLIC_URL). It names
 * the upstream the request is for, so that the token request goes to that upstream's
 * realm: `/token` for the default one (the realm clients of a one-upstream mirror hold,
 * and the ping's, whose token requests are routed by their scopes), `/token/<name>` for
 * the others.
 */
export function realmOf(mirror: Mirror, publicUrl: string | undefined): Realm {
  const upstreamOf = (request: Origin) => request.routed?.upstream ?? mirror.default
  const url = (request: Origin) => {
    const base = `${publicUrl ?? `${request.protocol}://${request.host}`}${TOKEN_PATH}`
    const upstream = upstreamOf(request)
    return upstream === mirror.default ? base : `${base}/${encodeURIComponent(upstream.name)}`
  }
  return { url, relay: (header, request) => upstreamOf(request).auth.relayChallenge(header, url(request)) }
}
