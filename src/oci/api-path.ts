/**
 * Which pull endpoint a `/v2/…` path names. Repository names contain slashes, so the
 * endpoint is found from the end of the path, as Distribution's router does.
 */
export type ApiPath =
  | { kind: 'ping' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string }
  | { kind: 'other' }

const ROUTES: ReadonlyArray<[RegExp, (m: RegExpExecArray) => ApiPath]> = [
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
]

/** The paths the mirror asks an upstream for; `repo` is a validated name. */
export function manifestPath(repo: string, reference: string): string {
  return `/v2/${repo}/manifests/${reference}`
}

export function blobPath(repo: string, digest: string): string {
  return `/v2/${repo}/blobs/${digest}`
}

export function tagListPath(repo: string): string {
  return `/v2/${repo}/tags/list`
}

export function referrersPath(repo: string, digest: string): string {
  return `/v2/${repo}/referrers/${digest}`
}

/** `url` is the raw request target; its query string is ignored (containerd adds `?ns=`). */
export function parseApiPath(url: string): ApiPath {
  const query = url.indexOf('?')
  const path = query < 0 ? url : url.slice(0, query)
  if (path === '/v2/' || path === '/v2') return { kind: 'ping' }
  for (const [pattern, build] of ROUTES) {
    const match = pattern.exec(path)
    if (match !== null) return build(match)
  }
  return { kind: 'other' }
}

/** Upload sessions (`POST …/blobs/uploads/`, then `PATCH`/`PUT`/`GET …/blobs/uploads/<id>`). */
const UPLOAD = /^\/v2\/(.+)\/blobs\/uploads(?:\/[^/]*)?$/

/**
 * The repository a `/v2/…` request is about, whatever its method (pulls, pushes, upload
 * sessions); undefined for paths without one (the ping, the catalog).
 */
export function repositoryOf(url: string): string | undefined {
  const path = parseApiPath(url)
  if (path.kind !== 'ping' && path.kind !== 'other') return path.name
  const query = url.indexOf('?')
  return UPLOAD.exec(query < 0 ? url : url.slice(0, query))?.[1]
}
