/**
 * Why a download did not enter the cache. `disk_full` and `store_error` are failures to
 * store: the bytes may still have been verified and served. `aborted` is the mirror
 * shutting down (a download goes on when the client that started it leaves).
 */
export const FILL_FAILURE_REASONS = [
  'digest_mismatch',
  'upstream_error',
  'disk_full',
  'store_error',
  'aborted',
] as const

export type FillFailure = (typeof FILL_FAILURE_REASONS)[number]

/**
 * What the mirror's logic reports for metrics, without knowing how they are kept. The
 * composition root adapts it to Prometheus counters.
 */
export interface Telemetry {
  /** Body bytes received from the upstream (the WAN). */
  upstreamBytes(kind: 'blob' | 'manifest', bytes: number): void
  fillEnded(failure: FillFailure | undefined): void
  /** Bytes a private request got from the public cache instead of the upstream. */
  privateCacheBytes(bytes: number): void
  /** An index operation failed; the request was served anyway. */
  indexError(operation: string): void
  /** A blob left the cache to keep it under its bound. */
  evicted(): void
}

export const noTelemetry: Telemetry = {
  upstreamBytes: () => {},
  fillEnded: () => {},
  privateCacheBytes: () => {},
  indexError: () => {},
  evicted: () => {},
}
