import type { BlobStore } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
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
}

/** Records asked of the index at a time while looking for blobs to evict. */
const PAGE = 200

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
    const { bytes } = await index.stats()
    if (bytes <= highBytes) return
    const target = lowBytes ?? bytes * bound.lowWatermark
    const pinned = new Set((await index.pins()).flatMap((p) => p.digests))
    let remaining = bytes
    let evicted = 0
    for (const manifests of [false, true]) {
      const result = await this.evictKind(manifests, pinned, remaining, target)
      remaining = result.remaining
      evicted += result.evicted
    }
    this.deps.log.info({ evicted, bytesBefore: bytes, bytesAfter: remaining }, 'cache evicted to its low mark')
  }

  private async evictKind(
    manifests: boolean,
    pinned: Set<string>,
    remaining: number,
    target: number,
  ): Promise<{ remaining: number; evicted: number }> {
    const { index, store, inUse, telemetry } = this.deps
    let skip = 0
    let evicted = 0
    while (remaining > target) {
      const page = await index.leastRecentlyUsed(skip, PAGE)
      if (page.length === 0) break
      for (const record of page) {
        if (remaining <= target) break
        const keep = (record.mediaType !== undefined) !== manifests || pinned.has(record.digest) || inUse(record.digest)
        // Kept records stay in the order, so the next page starts after them.
        if (keep) {
          skip++
          continue
        }
        await index.deleteBlob(record.digest)
        await store.delete(record.digest)
        remaining -= record.size
        evicted++
        telemetry.evicted()
      }
    }
    return { remaining, evicted }
  }
}
