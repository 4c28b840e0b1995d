import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Metrics } from '../metrics/metrics.js'
import type { Routed } from '../mirror/mirror.js'
import type { CacheOutcome } from '../mirror/request-context.js'
import type { Logger } from '../logger.js'
import { apiPathKind } from '../oci/api-path.js'
import type { UpstreamTrace } from '../upstream/upstream-client.js'
import { TOKEN_PATH } from './realm.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** How the mirror served this request, for its log line and metrics. */
    cacheOutcome: CacheOutcome | undefined
    /** The last upstream status this request saw. */
    upstreamTrace: UpstreamTrace
  }
}

export function setOutcome(request: FastifyRequest, outcome: CacheOutcome): void {
  request.cacheOutcome = outcome
}

/** A bounded label for what a request was for. */
export function routeKind(url: string): string {
  if (url === TOKEN_PATH || url.startsWith(`${TOKEN_PATH}?`) || url.startsWith(`${TOKEN_PATH}/`)) return 'token'
  if (url.startsWith('/_peer/')) return 'peer'
  if (!url.startsWith('/v2')) return 'other'
  const kind = apiPathKind(url)
  return kind === 'manifest' ? 'manifest' : kind === 'blob' ? 'blob' : kind === 'other' ? 'proxy' : kind
}

/** Paths that are about the mirror itself, kept out of the traffic metrics and logs. */
const INTERNAL = new Set(['/metrics', '/healthz', '/readyz'])

/** Told of each successful manifest GET of a public repository, with where it was routed. */
export type PullCounter = (routed: Routed) => void

/** What one request's log line and metrics say. */
export interface RequestFacts {
  requestId: string
  method: string
  url: string
  /** routeKind of the URL. */
  route: string
  routed: Routed | undefined
  status: number
  cache: CacheOutcome | undefined
  upstreamStatus: number | undefined
  bytes: number | undefined
  ms: number
  /** False when the client left before the answer was complete. */
  finished: boolean
}

export type RequestRecorder = (facts: RequestFacts) => void

let lastRequestId = 0

/** Request ids as fastify makes them, shared with the answers given before fastify. */
export function nextRequestId(): string {
  lastRequestId = (lastRequestId + 1) & 0x7fffffff
  return `req-${lastRequestId.toString(36)}`
}

/**
 * One log line and one set of metrics per request. Fields first: what was asked, how it
 * was served, what the upstream said, how long it took. Headers are never logged, so
 * credentials cannot reach the log from here.
 */
export function requestRecorder(metrics: Metrics, log: Logger, pulled?: PullCounter): RequestRecorder {
  return (facts) => {
    const { route, method, status, routed } = facts
    const upstream = routed?.upstream.name ?? ''
    const cache = facts.cache ?? 'none'
    metrics.requests.inc({ route, method, status: `${Math.floor(status / 100)}xx`, cache, upstream })
    metrics.requestDuration.observe({ route, method, upstream }, facts.ms / 1000)
    if (!facts.finished) metrics.clientAborts.inc({ route, upstream })
    // A private repository's name is nobody else's business: /metrics is open to anyone.
    if (pulled !== undefined && route === 'manifest' && method === 'GET' && status < 300 && cache !== 'bypass') {
      countPull(routed, pulled)
    }
    log.info(
      {
        reqId: facts.requestId,
        method,
        url: facts.url,
        upstream: upstream === '' ? undefined : upstream,
        status,
        outcome: facts.cache,
        upstreamStatus: facts.upstreamStatus,
        bytes: facts.bytes,
        ms: Math.round(facts.ms),
        aborted: facts.finished ? undefined : true,
      },
      'request',
    )
  }
}

function countPull(routed: Routed | undefined, pulled: PullCounter): void {
  if (routed === undefined) return
  try {
    pulled(routed)
  } catch {
    // Names that do not pass were refused before they got a 2xx.
  }
}

function record(request: FastifyRequest, reply: FastifyReply, recorder: RequestRecorder): void {
  if (INTERNAL.has(request.url.split('?')[0]!)) return
  const length = reply.getHeader('content-length')
  recorder({
    requestId: request.id,
    method: request.method,
    url: request.url,
    route: routeKind(request.url),
    routed: request.routed,
    status: reply.statusCode,
    cache: request.cacheOutcome,
    upstreamStatus: request.upstreamTrace.status,
    bytes: length === undefined ? undefined : Number(length),
    ms: reply.elapsedTime,
    finished: reply.raw.writableFinished,
  })
}

/**
 * A request's record (requestRecorder), when its connection is done with it, so requests
 * the client abandoned are counted too.
 */
export function installRequestRecord(app: FastifyInstance, recorder: RequestRecorder): void {
  app.decorateRequest('cacheOutcome', undefined)
  // An object per request, so it is set here and not shared through the prototype
  // (fastify's guidance for reference types).
  app.decorateRequest('upstreamTrace')
  app.addHook('onRequest', (request, reply, done) => {
    request.upstreamTrace = {}
    reply.raw.once('close', () => record(request, reply, recorder))
    done()
  })
}
