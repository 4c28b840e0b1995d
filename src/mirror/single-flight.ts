/**
 * Concurrent calls with one key share one execution: the first caller runs `work`, the
 * rest await its result. An instance holds its own in-flight map; there is no global one.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>()

  /** `joined` tells the caller whether it shared another's work. */
  async run(key: string, work: () => Promise<T>): Promise<{ value: T; joined: boolean }> {
    const existing = this.inFlight.get(key)
    if (existing !== undefined) return { value: await existing, joined: true }
    const started = work().finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, started)
    return { value: await started, joined: false }
  }

  get size(): number {
    return this.inFlight.size
  }
}
