import { TransportFailure } from '../http/transport-errors.js'

/**
 * Where an upstream's redirect is followed, and with what: the one policy of both HTTP
 * clients (the pooled blob transport, and undici through `followRedirects`). It is
 * undici's own (RFC 9110 §15.4, and the Fetch standard's credential rule), written
 * once where it can be read and table-tested.
 */

/** The statuses that name another place to ask, in their Location. */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([300, 301, 302, 303, 307, 308])

/** Credentials are for the origin they were sent to, never for wherever it points. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization'])

export function isRedirect(status: number): boolean {
  return REDIRECT_STATUSES.has(status)
}

/** One request of a chain. Header names may come in any case. */
export interface Hop<V = string> {
  url: URL
  method: string
  headers: Readonly<Record<string, V>>
}

export interface RedirectAnswer {
  status: number
  location: string | string[] | undefined
}

export interface RedirectChain {
  /** Every URL asked so far, in order, the one that just answered last. */
  visited: readonly URL[]
  maxRedirects: number
  /** False when the request's body was a stream: it cannot be sent again. */
  bodyReplayable?: boolean
}

export type RedirectStep<V = string> =
  /** Hand this answer to the caller as it is. */
  | { kind: 'deliver'; why: 'not-redirect' | 'no-location' | 'limit' | 'body-spent' }
  /** Ask `hop` next; the request's body goes with it unless `dropBody`. */
  | { kind: 'follow'; hop: Hop<V>; dropBody: boolean }
  /** The chain ends in an error. */
  | { kind: 'refuse'; why: 'location' | 'scheme' | 'loop'; message: string }

/** A redirect the policy refuses to follow (a loop, a Location that is not http or https). */
export class RedirectRefusedError extends TransportFailure {
  override readonly name = 'RedirectRefusedError'
  override readonly code = 'REDIRECT_REFUSED'
  override readonly reason = 'other'
}

/** The method a redirect is followed with: 303 asks with GET, and so do 301 and 302 after a POST. */
function nextMethod(status: number, method: string): string {
  if (status === 303 && method !== 'HEAD') return 'GET'
  if ((status === 301 || status === 302) && method === 'POST') return 'GET'
  return method
}

/** The headers that go on: never Host; no Content-* after a 303; no credentials to another origin. */
function carriedHeaders<V>(headers: Readonly<Record<string, V>>, status: number, crossOrigin: boolean) {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => {
      const lower = name.toLowerCase()
      if (lower === 'host') return false
      if (status === 303 && lower.startsWith('content-')) return false
      return !(crossOrigin && CREDENTIAL_HEADERS.has(lower))
    }),
  )
}

/** A URL as a request sees it: no fragment. */
function where(url: URL): string {
  return `${url.origin}${url.pathname}${url.search}`
}

/** The URL a Location names, resolved against the URL that answered, or why it is not followed. */
function target(location: string, from: URL, visited: readonly URL[]): URL | Extract<RedirectStep, { kind: 'refuse' }> {
  if (!URL.canParse(location, from.href)) {
    return { kind: 'refuse', why: 'location', message: `redirect to an invalid URL: ${location.slice(0, 200)}` }
  }
  const url = new URL(location, from)
  // A fragment is the client's own business: it is never sent.
  url.hash = ''
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { kind: 'refuse', why: 'scheme', message: `redirect to a ${url.protocol} URL` }
  }
  if (visited.some((seen) => where(seen) === where(url))) {
    return { kind: 'refuse', why: 'loop', message: `redirect loop through ${where(url)}` }
  }
  return url
}

/** What to do with an answer to `hop`: deliver it, follow its redirect, or refuse. */
export function nextHop<V>(hop: Hop<V>, answer: RedirectAnswer, chain: RedirectChain): RedirectStep<V> {
  const { status, location } = answer
  if (!isRedirect(status)) return { kind: 'deliver', why: 'not-redirect' }
  if (location === undefined || location === '') return { kind: 'deliver', why: 'no-location' }
  if (chain.visited.length - 1 >= chain.maxRedirects) return { kind: 'deliver', why: 'limit' }
  const method = nextMethod(status, hop.method)
  const dropBody = method !== hop.method || status === 303
  if (!dropBody && chain.bodyReplayable === false) return { kind: 'deliver', why: 'body-spent' }
  if (Array.isArray(location)) {
    return { kind: 'refuse', why: 'location', message: 'redirect with several Location headers' }
  }
  const url = target(location, hop.url, chain.visited)
  if (!(url instanceof URL)) return url
  const headers = carriedHeaders(hop.headers, status, url.origin !== hop.url.origin)
  return { kind: 'follow', hop: { url, method, headers }, dropBody }
}
