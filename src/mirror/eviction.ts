import { setImmediate as yieldToRequests } from 'node:timers/promises'
import type { BlobStore } from '../cache/blob-store.js'
import type { BlobRecord, Index, RecordKind } from '../cache/cache-index.js'
import { mapConcurrently } from '../cache/concurrency.js'
import type { Logger } from '../logger.js'
import type { Telemetry } from './telemetry.js'

export interface CacheBound {
  /** Undefined: no bound; eviction only runs when the disk fills. */
  maxBytes: number | undefined
  highWatermark: number
  lowWatermark: number
}

export interface EvictorDeps {
  index: Index
  store: BlobStore
  bound: CacheBound
  /** True while a blob is being read or filled: it is never evicted then. */
  inUse: (digest: string) => boolean
  telemetry: Telemetry
  log: Logger
  /** Passes wait for it: until the index matches the disk, its totals fall short. */
  ready?: Promise<unknown>
}

/**
 * Blobs evicted together, then requests get their turn: a pass over a tenth of a million
 * blobs never holds the event loop for more than a batch (measured: bench/scale.ts).
 */
const BATCH = 64
/**
 * Files deleted at once: enough to keep the thread pool's 4 threads on unlinks (each
 * waits on the filesystem's journal, a millisecond or more on a busy disk), few enough
 * that a request's reads queue behind a handful.
 */
const DELETES_IN_FLIGHT = 8

/**
 * Keeps the cache under its bound: once it holds more than the high mark, the least
 * recently used blobs go until it is under the low mark. Pinned blobs and blobs being
 * read or filled stay; manifests are small and go last. A blob's record goes before its
 * file, so no record ever points at a deleted file as if it were cached.
 */
export class Evictor {
  private running: Promise<void> | undefined

  constructor(private readonly deps: EvictorDeps) {}

  /** Evicts if the cache is over its high mark; concurrent calls share one pass. */
  check(): Promise<void> {
    const { maxBytes, highWatermark, lowWatermark } = this.deps.bound
    if (maxBytes === undefined) return Promise.resolve()
    return this.once(maxBytes * highWatermark, maxBytes * lowWatermark)
  }

  /** The disk filled before the bound was reached: make room below what is cached now. */
  diskFull(): Promise<void> {
    // A pass already running aims at the high mark, which a full disk may not have reached.
    const current = this.running ?? Promise.resolve()
    return current.then(() => this.once(0, undefined))
  }

  private once(highBytes: number, lowBytes: number | undefined): Promise<void> {
    this.running ??= this.pass(highBytes, lowBytes)
      .catch((e: unknown) => this.deps.log.warn({ err: e }, 'eviction did not finish'))
      .finally(() => (this.running = undefined))
    return this.running
  }

  private async pass(highBytes: number, lowBytes: number | undefined): Promise<void> {
    const { index, bound } = this.deps
    await this.deps.ready
    const { bytes } = await index.stats()
    if (bytes <= highBytes) return
    const target = lowBytes ?? bytes * bound.lowWatermark
    const pinned = new Set((await index.pins()).flatMap((p) => p.digests))
    let remaining = bytes
    let evicted = 0
    for (const kind of ['blob', 'manifest'] as const) {
      const result = await this.evictKind(kind, pinned, remaining, target)
      remaining = result.remaining
      evicted += result.evicted
    }
    this.deps.log.info({ evicted, bytesBefore: bytes, bytesAfter: remaining }, 'cache evicted to its low mark')
  }

  /** Least recently used first, sparing pinned blobs and blobs in use. */
  private async evictKind(
    kind: RecordKind,
    pinned: Set<string>,
    remaining: number,
    target: number,
  ): Promise<{ remaining: number; evicted: number }> {
    const { index, inUse } = this.deps
    let evicted = 0
    let victims: BlobRecord[] = []
    for await (const record of index.leastRecentlyUsed(kind)) {
      if (remaining <= target) break
      if (pinned.has(record.digest) || inUse(record.digest)) continue
      victims.push(record)
      remaining -= record.size
      evicted++
      if (victims.length < BATCH) continue
      await this.evict(victims)
      victims = []
    }
    await this.evict(victims)
    return { remaining, evicted }
  }

  /** Records go before files, so no record ever points at a deleted file as if it were cached. */
  private async evict(victims: BlobRecord[]): Promise<void> {
    const { index, store, telemetry } = this.deps
    await Promise.all(victims.map((v) => index.deleteBlob(v.digest)))
    await mapConcurrently(victims, DELETES_IN_FLIGHT, async (v) => {
      await store.delete(v.digest)
      telemetry.evicted()
    })
    await yieldToRequests()
  }
}
