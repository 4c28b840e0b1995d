import { errors, type MirrorError } from '../errors.js'

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

type Endpoint = Exclude<ApiPath['kind'], 'ping' | 'other'>

/**
 * The endpoints, found on the path as sent: an encoded `/` never makes or moves the
 * components that name the endpoint. The name and the last segment are decoded after.
 */
const ROUTES: ReadonlyArray<[Endpoint, RegExp]> = [
  ['manifest', /^\/v2\/(.+)\/manifests\/([^/]+)$/],
  ['blob', /^\/v2\/(.+)\/blobs\/([^/]+)$/],
  ['tags', /^\/v2\/(.+)\/tags\/list$/],
  ['referrers', /^\/v2\/(.+)\/referrers\/([^/]+)$/],
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

interface RouteMatch {
  kind: Endpoint
  name: string
  last: string
}

function pathOf(url: string): string {
  const query = url.indexOf('?')
  return query < 0 ? url : url.slice(0, query)
}

function matchRoute(path: string): RouteMatch | undefined {
  for (const [kind, pattern] of ROUTES) {
    const match = pattern.exec(path)
    if (match !== null) return { kind, name: match[1]!, last: match[2] ?? '' }
  }
  return undefined
}

function decode(text: string, refuse: (text: string) => MirrorError): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw refuse(text)
  }
}

/** A reference that does not decode: a digest if it looks like one, else a tag. */
function invalidReference(text: string): MirrorError {
  return /:|%3a/i.test(text) ? errors.digestInvalid(text) : errors.tagInvalid(text)
}

/**
 * `url` is the raw request target; its query string is ignored (containerd adds `?ns=`).
 * The name and the reference or digest come back percent-decoded, as every registry
 * reads them (`sha256%3A…` is `sha256:…`). Name components are decoded one by one: an
 * encoded `/` inside one becomes part of the name, as in Distribution (its router sees
 * the decoded path), and the name grammar then decides. A segment that does not decode
 * is refused as an invalid name, digest or tag.
 */
export function parseApiPath(url: string): ApiPath {
  const path = pathOf(url)
  if (path === '/v2/' || path === '/v2') return { kind: 'ping' }
  const match = matchRoute(path)
  if (match === undefined) return { kind: 'other' }
  const name = match.name
    .split('/')
    .map((component) => decode(component, () => errors.nameInvalid(match.name)))
    .join('/')
  switch (match.kind) {
    case 'manifest':
      return { kind: 'manifest', name, reference: decode(match.last, invalidReference) }
    case 'blob':
      return { kind: 'blob', name, digest: decode(match.last, errors.digestInvalid) }
    case 'tags':
      return { kind: 'tags', name }
    case 'referrers':
      return { kind: 'referrers', name, digest: decode(match.last, errors.digestInvalid) }
  }
}

/** Which endpoint a request target names, decoding nothing: it never throws. */
export function apiPathKind(url: string): ApiPath['kind'] {
  const path = pathOf(url)
  if (path === '/v2/' || path === '/v2') return 'ping'
  return matchRoute(path)?.kind ?? 'other'
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
