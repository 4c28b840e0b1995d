/** Where a replica should get a blob it does not hold. */
export type FetchPlan =
  /** A live peer holds it, or is fetching it now: stream it from there. */
  | { kind: 'peer'; url: string }
  /** This replica fetches it from the upstream; `release` once done. */
  | { kind: 'upstream'; release: () => Promise<void> }

/**
 * The replicas sharing one index: who holds which blob, and who is fetching which from
 * the upstream right now, so the WAN carries each blob once however many replicas serve
 * it. A single mirror has no peers (see `alone`).
 */
export interface Peers {
  plan(digest: string): Promise<FetchPlan>
  /** A peer that failed: not asked again for a while. */
  drop(url: string): void
  close(): Promise<void>
}

export const alone: Peers = {
  plan: async () => ({ kind: 'upstream', release: async () => {} }),
  drop: () => {},
  close: async () => {},
}
