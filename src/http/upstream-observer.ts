/** What an upstream call was for; a bounded label. */
export type UpstreamKind = 'manifest' | 'blob' | 'tags' | 'referrers' | 'token' | 'ping' | 'other'

/**
 * Why the pooled blob transport handed a GET to the general HTTP client, which sends it
 * again; a bounded label.
 * - `framing`: the body is not framed by a Content-Length alone (chunked, none, invalid);
 * - `informational`: a 1xx head;
 * - `folded-head`: a header line continued on the next (obs-fold);
 * - `invalid-head`: a head RFC 9112 says to reject (whitespace before a colon, a name
 *   that is not a token, a control character in a value, a bare CR or LF), left to the
 *   general client to judge;
 * - `redirect-limit`, `redirect-no-location`: a redirect not followed, whose body the
 *   transport never read;
 * - `proxy-tunnel`: an https URL the upstream's proxy must reach through a CONNECT
 *   tunnel (known before the request is sent, unless a redirect led there).
 */
export const TRANSPORT_FALLBACK_REASONS = [
  'framing',
  'informational',
  'folded-head',
  'invalid-head',
  'redirect-limit',
  'redirect-no-location',
  'proxy-tunnel',
] as const

export type TransportFallbackReason = (typeof TRANSPORT_FALLBACK_REASONS)[number]

/**
 * Told about every upstream call, so metrics can count them without the upstream layer
 * knowing about metrics. `seconds` is the time to the response headers.
 */
export interface UpstreamObserver {
  response(kind: UpstreamKind, status: number, seconds: number): void
  failure(kind: UpstreamKind, reason: string): void
  /** A GET the pooled transport left to the general client, which sends it again. */
  fallback(reason: TransportFallbackReason): void
}

export const ignoreUpstream: UpstreamObserver = { response: () => {}, failure: () => {}, fallback: () => {} }

/** The kind of an upstream path, from its end (names have slashes). */
export function upstreamKindOf(path: string): UpstreamKind {
  if (/\/manifests\/[^/]+$/.test(path)) return 'manifest'
  if (/\/blobs\/[^/]+$/.test(path)) return 'blob'
  if (path.endsWith('/tags/list')) return 'tags'
  if (/\/referrers\/[^/]+$/.test(path)) return 'referrers'
  if (path === '/v2/' || path === '/v2') return 'ping'
  return 'other'
}
