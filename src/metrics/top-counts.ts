/**
 * Approximate counts of the most frequent keys in bounded memory (the Space-Saving
 * algorithm): at most `capacity` keys are tracked; a new key takes the place of the least
 * counted one and starts from its count, so a key that is truly among the top is never
 * lost, and counts are overestimated by at most the smallest tracked count.
 */
export class TopCounts {
  private readonly counts = new Map<string, number>()

  constructor(private readonly capacity: number) {}

  add(key: string): void {
    const count = this.counts.get(key)
    if (count !== undefined) {
      this.counts.set(key, count + 1)
      return
    }
    if (this.counts.size < this.capacity) {
      this.counts.set(key, 1)
      return
    }
    let leastKey = ''
    let least = Infinity
    for (const [k, c] of this.counts) {
      if (c < least) {
        leastKey = k
        least = c
      }
    }
    this.counts.delete(leastKey)
    this.counts.set(key, least + 1)
  }

  /** The `n` most counted keys, most first. */
  top(n: number): Array<[string, number]> {
    return [...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n)
  }
}
