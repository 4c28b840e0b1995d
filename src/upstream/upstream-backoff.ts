/**
 * Consecutive failures to reach the upstream (refused, DNS, timeout) before requests stop
 * trying: one or two are a blip, three in a row an outage.
 */
const FAILURES_BEFORE_BACKOFF = 3
/** The first wait before a probe: short, so a restarted upstream is seen again soon. */
const FIRST_DELAY_MS = 1_000
/** Waits double after each failed probe up to this: an outage costs one probe per half minute. */
const MAX_DELAY_MS = 30_000

/**
 * What a request may do: `go` as usual, be the one `probe` that decides whether the
 * upstream is back, or be `refused` at once (the upstream is down and a probe is pending).
 */
export type Admission = 'go' | 'probe' | 'refused'

/** How an admitted request ended: the upstream answered, could not be reached, or nobody knows (the client left). */
export type Reach = 'reachable' | 'unreachable' | 'unknown'

export interface UpstreamBackoffOptions {
  now?: () => number
  failuresBeforeBackoff?: number
  firstDelayMs?: number
  maxDelayMs?: number
  /** Told when backoff starts (true) and ends (false). */
  onChange?: (backingOff: boolean, delayMs: number) => void
}

/**
 * A circuit breaker for one upstream. After repeated failures to reach it, requests
 * stop waiting for connect timeouts one after another: they are refused at once, and
 * the cache answers what it can. When the delay has passed, one request goes through as
 * the probe; its answer (any answer) ends the backoff, its failure doubles the delay.
 */
export class UpstreamBackoff {
  private failures = 0
  private backingOff = false
  private delayMs: number
  private until = 0
  private probing = false
  private readonly now: () => number
  private readonly threshold: number
  private readonly firstDelayMs: number
  private readonly maxDelayMs: number

  constructor(private readonly options: UpstreamBackoffOptions = {}) {
    this.now = options.now ?? (() => performance.now())
    this.threshold = options.failuresBeforeBackoff ?? FAILURES_BEFORE_BACKOFF
    this.firstDelayMs = options.firstDelayMs ?? FIRST_DELAY_MS
    this.maxDelayMs = options.maxDelayMs ?? MAX_DELAY_MS
    this.delayMs = this.firstDelayMs
  }

  /** True from the failure that started a backoff until an answer ends it. */
  get active(): boolean {
    return this.backingOff
  }

  admit(): Admission {
    if (!this.backingOff) return 'go'
    if (this.probing || this.now() < this.until) return 'refused'
    this.probing = true
    return 'probe'
  }

  /** How a request `admit` let through ended. */
  settle(admission: Exclude<Admission, 'refused'>, reach: Reach): void {
    if (admission === 'probe') this.probing = false
    if (reach === 'reachable') {
      this.failures = 0
      if (this.backingOff) this.end()
      return
    }
    if (reach === 'unknown') return
    if (admission === 'probe') {
      this.delayMs = Math.min(this.delayMs * 2, this.maxDelayMs)
      this.until = this.now() + this.delayMs
      return
    }
    // Requests that were already on their way when the backoff began add nothing.
    if (this.backingOff) return
    this.failures++
    if (this.failures >= this.threshold) this.start()
  }

  private start(): void {
    this.backingOff = true
    this.delayMs = this.firstDelayMs
    this.until = this.now() + this.delayMs
    this.options.onChange?.(true, this.delayMs)
  }

  private end(): void {
    this.backingOff = false
    this.delayMs = this.firstDelayMs
    this.options.onChange?.(false, 0)
  }
}
