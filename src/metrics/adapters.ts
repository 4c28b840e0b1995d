import type { UpstreamObserver } from '../http/upstream-observer.js'
import type { Telemetry } from '../mirror/telemetry.js'
import type { Metrics } from './metrics.js'

/** One upstream's calls, counted in Prometheus under its name. */
export function upstreamObserver(metrics: Metrics, upstream: string): UpstreamObserver {
  return {
    response: (kind, status, seconds) => {
      metrics.upstreamResponses.inc({ kind, code: String(status), upstream })
      metrics.upstreamFirstByte.observe({ kind, upstream }, seconds)
    },
    failure: (kind, reason) => metrics.upstreamFailures.inc({ kind, reason, upstream }),
    fallback: (reason) => metrics.upstreamTransportFallbacks.inc({ reason, upstream }),
  }
}

/**
 * The mirror's telemetry, counted in Prometheus: what happens for one upstream under its
 * name; what the upstreams share (eviction, the index) without one.
 */
export function mirrorTelemetry(metrics: Metrics, upstream = ''): Telemetry {
  return {
    upstreamBytes: (kind, bytes) => metrics.upstreamReceivedBytes.inc({ kind, upstream }, bytes),
    fillEnded: (failure) => {
      metrics.fills.inc({ result: failure === undefined ? 'cached' : 'failed', upstream })
      if (failure !== undefined) metrics.fillFailures.inc({ reason: failure, upstream })
    },
    privateCacheBytes: (bytes) => metrics.privateCacheBytes.inc({ upstream }, bytes),
    indexError: (operation) => metrics.indexErrors.inc({ operation }),
    evicted: () => metrics.evictions.inc(),
  }
}
