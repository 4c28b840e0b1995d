import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Mirror, Routed } from '../mirror/mirror.js'
import type { ManifestResult } from '../mirror/results.js'
import { parseApiPath } from '../oci/api-path.js'
import { parseReference, type Reference } from '../oci/reference.js'
import { namespacesOf } from '../oci/registry-host.js'
import type { CountSent } from './pull-routes.js'
import { undecodableParameter } from './query-check.js'
import { nextRequestId, type RequestRecorder } from './request-record.js'

export interface HotManifestsDeps {
  mirror: Mirror
  record: RequestRecorder
  countSent: CountSent
}

/** A manifest request the hot path may answer: what it names, where it is routed. */
interface Asked {
  routed: Routed
  repo: string
  reference: Reference
}

/**
 * Cached manifests of public repositories, answered before fastify sees the request.
 * A manifest HEAD by tag is what every node sends on every pull, and a roll-out sends
 * thousands at once; fastify's hooks, routing and promises cost three times the answer.
 * The answer is the one the pull routes give (ManifestService.peek holds the rules, which
 * are get()'s): a request the peek cannot settle this instant, or that is anything but a
 * plain GET or HEAD of a manifest, goes on to fastify untouched, as does everything
 * while the server closes. Each answer gets its log line and metrics, as any request does.
 */
export class HotManifests {
  #deps: HotManifestsDeps | undefined
  /**
   * What each URL asks for: routing and validating a name is a pure function of the URL
   * and the config, and a roll-out asks for the same few URLs thousands of times.
   */
  readonly #known = new Map<string, Asked>()
  #answered = 0

  /** How many requests were answered here, for tests and the curious. */
  get answered(): number {
    return this.#answered
  }

  /** Starts answering; until then, and after stop(), every request goes to fastify. */
  start(deps: HotManifestsDeps): void {
    this.#deps = deps
  }

  stop(): void {
    this.#deps = undefined
  }

  /** The server's request listener: this in front of fastify's. */
  front(next: RequestListener): RequestListener {
    return (request, response) => {
      if (!this.answer(request, response)) next(request, response)
    }
  }

  private answer(request: IncomingMessage, response: ServerResponse): boolean {
    const deps = this.#deps
    const method = request.method
    if (deps === undefined || (method !== 'HEAD' && method !== 'GET')) return false
    const started = performance.now()
    const asked = this.asked(deps.mirror, request)
    if (asked === undefined) return false
    const { routed, repo, reference } = asked
    let result: ManifestResult | undefined
    try {
      result = routed.upstream.manifests.peek(repo, reference, request.headers.accept, method === 'GET')
      if (result === undefined) return false
      // Throws before anything is sent (a record the index took that no header can carry).
      response.writeHead(200, headersOf(result))
    } catch {
      // Nothing was sent: the routes answer, and say what went wrong in their words.
      return false
    }
    response.end(result.body)
    this.#answered++
    const upstream = routed.upstream.name
    if (result.body !== undefined) deps.countSent('cache', result.body.length, upstream)
    deps.record({
      requestId: nextRequestId(),
      method,
      url: request.url!,
      route: 'manifest',
      routed,
      status: 200,
      cache: 'hit',
      upstreamStatus: undefined,
      bytes: result.size,
      ms: performance.now() - started,
      finished: true,
    })
    return true
  }

  /** The manifest a request names, when nothing about it needs fastify's care. */
  private asked(mirror: Mirror, request: IncomingMessage): Asked | undefined {
    const url = request.url
    const headers = request.headers
    // A body, a conditional request or a target not in origin form: the routes' business.
    if (url === undefined || !url.startsWith('/v2/') || headers['if-none-match'] !== undefined) return undefined
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return undefined
    let asked = this.#known.get(url)
    if (asked === undefined) {
      asked = parseAsked(mirror, url)
      if (asked === undefined) return undefined
      // Anything past the bound is a scan, not a roll-out.
      if (this.#known.size >= MAX_KNOWN_URLS) this.#known.clear()
      this.#known.set(url, asked)
    }
    return asked
  }
}

const MAX_KNOWN_URLS = 4096

function parseAsked(mirror: Mirror, url: string): Asked | undefined {
  const query = url.indexOf('?')
  if (query >= 0 && undecodableParameter(url.slice(query + 1)) !== undefined) return undefined
  try {
    const path = parseApiPath(url)
    if (path.kind !== 'manifest') return undefined
    const routed = mirror.route(path.name, namespacesOf(url))
    if (routed.name === undefined) return undefined
    return { routed, repo: routed.upstream.repository(routed.name), reference: parseReference(path.reference) }
  } catch {
    // Refusals are answered by the routes, in their words.
    return undefined
  }
}

function headersOf(result: ManifestResult): Record<string, string | number> {
  return {
    'docker-distribution-api-version': 'registry/2.0',
    'content-type': result.mediaType,
    'docker-content-digest': result.digest,
    etag: `"${result.digest}"`,
    'content-length': result.body?.length ?? result.size,
  }
}
