/**
 * Typed errors and the one table that maps them to OCI error codes and HTTP statuses.
 * Everything a client can see as an error passes through `toOciError`.
 */

/** Codes from the OCI distribution spec, plus the few Distribution adds that clients know. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'UNAVAILABLE'
  | 'NOT_FOUND'
  | 'UNKNOWN'

export interface OciErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>
}

export function ociErrorBody(code: string, message: string, detail?: unknown): OciErrorBody {
  return { errors: [detail === undefined ? { code, message } : { code, message, detail }] }
}

/** An error the mirror answers a client with: an OCI code and the HTTP status that goes with it. */
export class MirrorError extends Error {
  override readonly name = 'MirrorError'
  constructor(
    readonly code: OciErrorCode,
    readonly status: number,
    message: string,
    options?: { cause?: unknown; detail?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.detail = options?.detail
    this.headers = options?.headers ?? {}
  }

  readonly detail: unknown
  readonly headers: Record<string, string>
}

/**
 * The upstream answered with a status the mirror passes on (404, 401, 429, 5xx): the
 * status, the headers worth keeping and the upstream's own error body are relayed.
 */
export class UpstreamStatusError extends Error {
  override readonly name = 'UpstreamStatusError'
  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: Buffer,
  ) {
    super(`upstream answered ${status}`)
  }
}

/** The upstream could not be reached or broke off: connection refused, reset, timed out. */
export class UpstreamUnavailableError extends Error {
  override readonly name: string = 'UpstreamUnavailableError'
}

/**
 * The upstream is configured offline: the mirror never contacts it, and what the cache
 * does not hold is not there. `kind` is what was asked for.
 */
export class UpstreamOfflineError extends UpstreamUnavailableError {
  override readonly name: string = 'UpstreamOfflineError'
  constructor(
    readonly upstream: string,
    readonly kind: string,
  ) {
    super(`upstream ${upstream} is offline`)
  }
}

/** The upstream sent bytes that do not match their digest or announced size. */
export class UpstreamContentError extends Error {
  override readonly name = 'UpstreamContentError'
}

/**
 * A problem the operator of a command can fix: a bad image reference, a bundle that does
 * not check out, a cache dir another process holds. Commands print its message alone, as
 * one line, and exit non-zero; no OCI client ever sees one.
 */
export class OperatorError extends Error {
  override readonly name: string = 'OperatorError'
}

/** What a thrown value says, whatever was thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export const errors = {
  nameInvalid: (name: string) =>
    new MirrorError('NAME_INVALID', 400, 'invalid repository name', {
      detail: { name: name.length > 256 ? `${name.slice(0, 256)}…` : name },
    }),
  tagInvalid: (tag: string) =>
    new MirrorError('TAG_INVALID', 400, 'invalid tag', { detail: { tag: tag.slice(0, 256) } }),
  digestInvalid: (digest: string, why = 'invalid digest') =>
    new MirrorError('DIGEST_INVALID', 400, why, { detail: { digest: digest.slice(0, 256) } }),
  manifestUnknown: (reference: string) =>
    new MirrorError('MANIFEST_UNKNOWN', 404, 'manifest unknown', { detail: { reference } }),
  blobUnknown: (digest: string) =>
    new MirrorError('BLOB_UNKNOWN', 404, 'blob unknown to registry', { detail: { digest } }),
  rangeNotSatisfiable: (size: number) =>
    new MirrorError('RANGE_INVALID', 416, 'requested range not satisfiable', {
      headers: { 'content-range': `bytes */${size}` },
    }),
  paginationInvalid: (value: string) =>
    new MirrorError('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested', {
      detail: { n: value.slice(0, 32) },
    }),
  notFound: () => new MirrorError('NOT_FOUND', 404, 'not found'),
  queryInvalid: (parameter: string) =>
    new MirrorError('UNSUPPORTED', 400, 'query parameter does not decode', {
      detail: { parameter: parameter.slice(0, 256) },
    }),
  /** A request for a registry the mirror does not serve: it never reaches any upstream. */
  registryUnknown: (registry: string, served: readonly string[]) =>
    new MirrorError(
      'NAME_UNKNOWN',
      404,
      `registry ${registry.slice(0, 256)} is not served by this mirror; it serves ${served.join(', ')}`,
      { detail: { registry: registry.slice(0, 256), served } },
    ),
  /** A request naming two registries (`?ns=` and a path prefix that disagree): neither is guessed. */
  registryConflict: (registries: readonly string[]) =>
    new MirrorError('NAME_INVALID', 400, `the request names more than one registry: ${registries.join(', ')}`, {
      detail: { registries },
    }),
  upstreamUnavailable: (cause: unknown) =>
    new MirrorError('UNAVAILABLE', 503, 'upstream registry unavailable', { cause }),
  shuttingDown: () => new MirrorError('UNAVAILABLE', 503, 'the mirror is shutting down'),
  upstreamBadContent: (cause: unknown) =>
    new MirrorError('UNKNOWN', 502, 'upstream sent content that does not match its digest or size', {
      cause,
    }),
}

/** Upstream headers that a relayed error keeps: they tell the client what to do next. */
const RELAYED_HEADERS = [
  'www-authenticate',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'docker-ratelimit-source',
]

export function pickRelayedHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of RELAYED_HEADERS) {
    const value = headers[name]
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

export interface OciErrorResponse {
  status: number
  headers: Record<string, string>
  body: OciErrorBody
}

export function isOciErrorBody(value: unknown): value is OciErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const list = (value as { errors?: unknown }).errors
  return Array.isArray(list) && list.every((e) => typeof e === 'object' && e !== null && 'code' in e)
}

function relayedBody(error: UpstreamStatusError): OciErrorBody {
  try {
    const parsed: unknown = JSON.parse(error.body.toString('utf8'))
    if (isOciErrorBody(parsed)) return parsed
  } catch {
    // Not JSON: describe it below.
  }
  const code = error.status === 429 ? 'TOOMANYREQUESTS' : error.status === 404 ? 'NAME_UNKNOWN' : 'UNKNOWN'
  return ociErrorBody(code, `upstream answered ${error.status}`)
}

/** The one place that turns any thrown value into the OCI error a client is sent. */
export function toOciError(error: unknown): OciErrorResponse {
  if (error instanceof MirrorError) {
    return { status: error.status, headers: error.headers, body: ociErrorBody(error.code, error.message, error.detail) }
  }
  if (error instanceof UpstreamStatusError) {
    return { status: error.status, headers: error.headers, body: relayedBody(error) }
  }
  if (error instanceof UpstreamOfflineError) return toOciError(offlineError(error))
  if (error instanceof UpstreamUnavailableError) return toOciError(errors.upstreamUnavailable(error))
  if (error instanceof UpstreamContentError) return toOciError(errors.upstreamBadContent(error))
  const status = clientStatusOf(error)
  if (status !== undefined) {
    return { status, headers: {}, body: ociErrorBody('UNSUPPORTED', (error as Error).message) }
  }
  return { status: 500, headers: {}, body: ociErrorBody('UNKNOWN', 'internal error') }
}

/**
 * What an offline upstream's client is told, at once: a manifest or blob the cache lacks
 * is unknown, and so is a tag list or referrers (never cached; a 404 makes clients fall
 * back to the referrers tag); anything else (a push, the catalog) is not supported.
 */
function offlineError(error: UpstreamOfflineError): MirrorError {
  const offline = `the mirror is offline for ${error.upstream}`
  const options = { cause: error }
  switch (error.kind) {
    case 'manifest':
      return new MirrorError('MANIFEST_UNKNOWN', 404, `${offline}, and this manifest is not in its cache`, options)
    case 'blob':
      return new MirrorError('BLOB_UNKNOWN', 404, `${offline}, and this blob is not in its cache`, options)
    case 'tags':
    case 'referrers':
      return new MirrorError('NAME_UNKNOWN', 404, `${offline}, and it keeps no ${error.kind} list`, options)
    default:
      return new MirrorError(
        'UNSUPPORTED',
        405,
        `${offline}: it serves only what its cache holds, and takes no pushes`,
        options,
      )
  }
}

/** HTTP-layer errors (a malformed request, a body too large) carry a 4xx `statusCode`. */
function clientStatusOf(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined
  const status = (error as { statusCode?: unknown }).statusCode
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined
}
