import type { UpstreamObserver } from '../http/upstream-observer.js'
import type { Telemetry } from '../mirror/telemetry.js'
import type { Metrics } from './metrics.js'

/** The upstream layer's observer, counted in Prometheus. */
export function upstreamObserver(metrics: Metrics): UpstreamObserver {
  return {
    response: (kind, status, seconds) => {
      metrics.upstreamResponses.inc({ kind, code: String(status) })
      metrics.upstreamFirstByte.observe({ kind }, seconds)
    },
    failure: (kind, reason) => metrics.upstreamFailures.inc({ kind, reason }),
    fallback: (reason) => metrics.upstreamTransportFallbacks.inc({ reason }),
  }
}

/** The mirror's telemetry, counted in Prometheus. */
export function mirrorTelemetry(metrics: Metrics): Telemetry {
  return {
    upstreamBytes: (kind, bytes) => metrics.upstreamReceivedBytes.inc({ kind }, bytes),
    fillEnded: (failure) => {
      metrics.fills.inc({ result: failure === undefined ? 'cached' : 'failed' })
      if (failure !== undefined) metrics.fillFailures.inc({ reason: failure })
    },
    privateCacheBytes: (bytes) => metrics.privateCacheBytes.inc(bytes),
    indexError: (operation) => metrics.indexErrors.inc({ operation }),
    evicted: () => metrics.evictions.inc(),
  }
}
