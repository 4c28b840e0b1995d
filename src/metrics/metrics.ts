import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client'
import { TRANSPORT_FALLBACK_REASONS } from '../http/upstream-observer.js'
import { FILL_FAILURE_REASONS } from '../mirror/telemetry.js'
import { TopCounts } from './top-counts.js'

/** Every metric the mirror exports is named under this prefix. */
export const PREFIX = 'registry_mirror_'

/**
 * Registry traffic spans a HEAD answered from memory (under a millisecond) to a layer of
 * gigabytes over a slow WAN (minutes).
 */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

/** The gauges of one scrape share one reading of the facts. */
const FACTS_FRESH_MS = 1000

function freshFor<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined
  return () => {
    const now = Date.now()
    if (last === undefined || now - last.at > ms) last = { at: now, value: read() }
    return last.value
  }
}

export interface CacheFacts {
  bytes: number
  blobs: number
  maxBytes: number
  filesystemSizeBytes: number
  filesystemFreeBytes: number
  fillsInFlight: number
  indexUp: boolean
}

/**
 * The mirror's instruments, on one registry per app instance. Labels are bounded: never
 * a repository, tag or digest. `upstream` is the name of a configured upstream, or empty
 * for what no upstream answers (the ping of a refused registry, the peers' route).
 */
export function createMetrics(registry: Registry, upstreams: readonly string[] = []) {
  collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const metrics = {
    requests: new Counter({
      name: `${PREFIX}requests_total`,
      help: 'Requests answered, by route kind, method, status class and cache outcome',
      labelNames: ['route', 'method', 'status', 'cache', 'upstream'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: `${PREFIX}request_duration_seconds`,
      help: 'Time from request to the last byte sent, by route kind, method and upstream',
      labelNames: ['route', 'method', 'upstream'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    clientAborts: new Counter({
      name: `${PREFIX}client_aborts_total`,
      help: 'Requests whose client went away before the response was complete',
      labelNames: ['route', 'upstream'] as const,
      registers,
    }),
    sentBytes: new Counter({
      name: `${PREFIX}sent_bytes_total`,
      help: 'Body bytes sent to clients, by where they came from (cache, upstream, peer) and upstream',
      labelNames: ['source', 'upstream'] as const,
      registers,
    }),
    upstreamReceivedBytes: new Counter({
      name: `${PREFIX}upstream_received_bytes_total`,
      help: 'Body bytes fetched from the upstream (the WAN), by kind and upstream',
      labelNames: ['kind', 'upstream'] as const,
      registers,
    }),
    privateCacheBytes: new Counter({
      name: `${PREFIX}private_cache_served_bytes_total`,
      help: 'Bytes of private requests served from the public cache after the upstream confirmed access',
      labelNames: ['upstream'] as const,
      registers,
    }),
    upstreamResponses: new Counter({
      name: `${PREFIX}upstream_responses_total`,
      help: 'Upstream responses by kind, HTTP status code and upstream',
      labelNames: ['kind', 'code', 'upstream'] as const,
      registers,
    }),
    upstreamFailures: new Counter({
      name: `${PREFIX}upstream_failures_total`,
      help: 'Upstream calls that got no response (refused, reset, timed out), by kind, reason and upstream',
      labelNames: ['kind', 'reason', 'upstream'] as const,
      registers,
    }),
    upstreamTransportFallbacks: new Counter({
      name: `${PREFIX}upstream_transport_fallbacks_total`,
      help: 'Blob GETs the pooled HTTP/1.1 transport left to the general client, which sent them again, by reason and upstream',
      labelNames: ['reason', 'upstream'] as const,
      registers,
    }),
    upstreamFirstByte: new Histogram({
      name: `${PREFIX}upstream_first_byte_seconds`,
      help: 'Time from an upstream request to its response headers, by kind and upstream',
      labelNames: ['kind', 'upstream'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    fills: new Counter({
      name: `${PREFIX}fills_total`,
      help: 'Blob downloads into the cache that ended, by result and upstream',
      labelNames: ['result', 'upstream'] as const,
      registers,
    }),
    fillFailures: new Counter({
      name: `${PREFIX}fill_failures_total`,
      help: 'Blob downloads that did not enter the cache, by reason and upstream',
      labelNames: ['reason', 'upstream'] as const,
      registers,
    }),
    evictions: new Counter({
      name: `${PREFIX}evictions_total`,
      help: 'Blobs evicted from the cache to stay under its size bound',
      registers,
    }),
    indexErrors: new Counter({
      name: `${PREFIX}index_errors_total`,
      help: 'Index operations that failed (the request was still served)',
      labelNames: ['operation'] as const,
      registers,
    }),
  }
  // Label values known up front, so their series exist (at 0) before anything happens.
  for (const upstream of upstreams) {
    for (const reason of FILL_FAILURE_REASONS) metrics.fillFailures.inc({ reason, upstream }, 0)
    for (const result of ['cached', 'failed']) metrics.fills.inc({ result, upstream }, 0)
    for (const reason of TRANSPORT_FALLBACK_REASONS) metrics.upstreamTransportFallbacks.inc({ reason, upstream }, 0)
    metrics.privateCacheBytes.inc({ upstream }, 0)
  }
  metrics.evictions.inc(0)
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

/** Gauges read at scrape time from the cache's own facts. */
export function registerCacheGauges(registry: Registry, facts: () => Promise<CacheFacts>): void {
  const current = freshFor(FACTS_FRESH_MS, facts)
  const gauge = (name: string, help: string, pick: (f: CacheFacts) => number) =>
    new Gauge({
      name: PREFIX + name,
      help,
      registers: [registry],
      async collect() {
        this.set(pick(await current()))
      },
    })
  gauge('cache_size_bytes', 'Bytes of blobs and manifests in the cache', (f) => f.bytes)
  gauge('cache_blobs', 'Blobs and manifests in the cache', (f) => f.blobs)
  gauge('cache_max_bytes', "The cache's size bound; the filesystem's size when none is set", (f) => f.maxBytes)
  gauge('cache_filesystem_size_bytes', "Size of the cache directory's filesystem", (f) => f.filesystemSizeBytes)
  gauge('cache_filesystem_free_bytes', "Free bytes on the cache directory's filesystem", (f) => f.filesystemFreeBytes)
  gauge('fills_in_flight', 'Blob downloads into the cache in progress', (f) => f.fillsInFlight)
  gauge('index_up', '1 when the index answers, 0 when the mirror serves without it', (f) => (f.indexUp ? 1 : 0))
}

/** What the upstream gauges read of each upstream at scrape time. */
export interface UpstreamState {
  name: string
  client: { readonly offline: boolean; readonly backingOff: boolean }
}

/** Per upstream: offline (configured so) and in backoff (unreachable, requests not waiting). */
export function registerUpstreamGauges(registry: Registry, upstreams: () => UpstreamState[]): void {
  const gauge = (name: string, help: string, pick: (u: UpstreamState['client']) => boolean) =>
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames: ['upstream'] as const,
      registers: [registry],
      collect() {
        for (const u of upstreams()) this.set({ upstream: u.name }, pick(u.client) ? 1 : 0)
      },
    })
  gauge('upstream_offline', '1 when the mirror is offline for this upstream: it is never contacted', (c) => c.offline)
  gauge(
    'upstream_backoff',
    '1 while the upstream is unreachable and requests are answered from the cache without waiting for it',
    (c) => c.backingOff,
  )
}

/**
 * Opt-in (`metricsTopRepositories`): manifest GETs of the `n` most pulled public
 * repositories, with the repository as a label. Only the top `n` are ever exported, so
 * the series stay bounded; counts are approximate (see TopCounts). Returns the counter's
 * input.
 */
export function registerTopRepositories(registry: Registry, n: number): (repository: string) => void {
  // Tracking ten times as many keys as are shown keeps the shown ones accurate.
  const counts = new TopCounts(Math.max(10 * n, 100))
  const counter = new Counter({
    name: `${PREFIX}repository_pulls_total`,
    help: `Manifest GETs of public repositories, for the ${n} most pulled (approximate)`,
    labelNames: ['repository'] as const,
    registers: [],
    collect() {
      this.reset()
      for (const [repository, count] of counts.top(n)) this.inc({ repository }, count)
    },
  })
  registry.registerMetric(counter)
  return (repository) => counts.add(repository)
}
