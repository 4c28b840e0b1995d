import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Metrics } from '../metrics/metrics.js'
import type { Routed } from '../mirror/mirror.js'
import type { CacheOutcome } from '../mirror/request-context.js'
import { apiPathKind } from '../oci/api-path.js'
import type { UpstreamTrace } from '../upstream/upstream-client.js'
import { TOKEN_PATH } from './realm.js'
import { upstreamLabel } from './routing.js'

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

function countPull(request: FastifyRequest, status: number, pulled: PullCounter): void {
  // A private repository's name is nobody else's business: /metrics is open to anyone.
  if (request.method !== 'GET' || status >= 300 || request.cacheOutcome === 'bypass') return
  if (apiPathKind(request.url) !== 'manifest' || request.routed === undefined) return
  try {
    pulled(request.routed)
  } catch {
    // Names that do not pass were refused before they got a 2xx.
  }
}

function record(request: FastifyRequest, reply: FastifyReply, metrics: Metrics, pulled?: PullCounter): void {
  if (INTERNAL.has(request.url.split('?')[0]!)) return
  const finished = reply.raw.writableFinished
  const route = routeKind(request.url)
  const status = reply.statusCode
  const seconds = reply.elapsedTime / 1000
  const cache = request.cacheOutcome ?? 'none'
  const upstream = upstreamLabel(request)
  metrics.requests.inc({ route, method: request.method, status: `${Math.floor(status / 100)}xx`, cache, upstream })
  metrics.requestDuration.observe({ route, method: request.method, upstream }, seconds)
  if (!finished) metrics.clientAborts.inc({ route, upstream })
  if (pulled !== undefined && route === 'manifest') countPull(request, status, pulled)
  const length = reply.getHeader('content-length')
  request.log.info(
    {
      method: request.method,
      url: request.url,
      upstream: upstream === '' ? undefined : upstream,
      status,
      outcome: request.cacheOutcome,
      upstreamStatus: request.upstreamTrace.status,
      bytes: length === undefined ? undefined : Number(length),
      ms: Math.round(reply.elapsedTime),
      aborted: finished ? undefined : true,
    },
    'request',
  )
}

/**
 * One log line and one set of metrics per request, when its connection is done with it,
 * so requests the client abandoned are counted too. Fields first: what was asked, how it
 * was served, what the upstream said, how long it took. Headers are never logged, so
 * credentials cannot reach the log from here.
 */
export function installRequestRecord(app: FastifyInstance, metrics: Metrics, pulled?: PullCounter): void {
  app.decorateRequest('cacheOutcome', undefined)
  // An object per request, so it is set here and not shared through the prototype
  // (fastify's guidance for reference types).
  app.decorateRequest('upstreamTrace')
  app.addHook('onRequest', (request, reply, done) => {
    request.upstreamTrace = {}
    reply.raw.once('close', () => record(request, reply, metrics, pulled))
    done()
  })
}
