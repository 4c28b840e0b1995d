/** What an upstream call was for; a bounded label. */
export type UpstreamKind = 'manifest' | 'blob' | 'tags' | 'referrers' | 'token' | 'ping' | 'other'

/**
 * Told about every upstream call, so metrics can count them without the upstream layer
 * knowing about metrics. `seconds` is the time to the response headers.
 */
export interface UpstreamObserver {
  response(kind: UpstreamKind, status: number, seconds: number): void
  failure(kind: UpstreamKind, reason: string): void
}

export const ignoreUpstream: UpstreamObserver = { response: () => {}, failure: () => {} }

/** The kind of an upstream path, from its end (names have slashes). */
export function upstreamKindOf(path: string): UpstreamKind {
  if (/\/manifests\/[^/]+$/.test(path)) return 'manifest'
  if (/\/blobs\/[^/]+$/.test(path)) return 'blob'
  if (path.endsWith('/tags/list')) return 'tags'
  if (/\/referrers\/[^/]+$/.test(path)) return 'referrers'
  if (path === '/v2/' || path === '/v2') return 'ping'
  return 'other'
}
