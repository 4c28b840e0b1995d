import type { BlobStore, OpenBlob } from '../../cache/blob-store.js'
import type { Index } from '../../cache/cache-index.js'
import type { Peers } from '../../cache/peers.js'
import { errors } from '../../errors.js'
import type { Digest } from '../../oci/digest.js'
import { decideRange } from '../../oci/range.js'
import type { PeerClient } from '../../upstream/peer-client.js'
import type { UpstreamClient } from '../../upstream/upstream-client.js'
import type { BufferPool } from '../../buffers/buffer-pool.js'
import type { ByteSource } from '../byte-source.js'
import { Fill, type FillJob } from '../fill/fill.js'
import { fillOrigin } from '../fill/fill-origin.js'
import { FillReader } from '../fill/fill-reader.js'
import type { CacheOutcome, RequestContext } from '../request-context.js'
import type { BlobBody } from '../results.js'
import type { Telemetry } from '../telemetry.js'
import { diskSource } from './disk-source.js'

export interface BlobCacheDeps {
  store: BlobStore
  index: Index
  /** Buffers for reading blobs from disk into responses. */
  pool: BufferPool
  /** The replicas this one shares its index with; `alone` for a single mirror. */
  peers: Peers
  peerClient: PeerClient | undefined
  /** Told when the cache grew (it may need evicting) and when the disk filled up. */
  cacheGrew: () => void
  diskFull: () => void
  now: () => number
}

/** Where a fill fetches from when no peer has the blob: one upstream, for one public repository. */
export interface FillSource {
  /** The upstream's name, recorded with the blob. */
  upstream: string
  client: UpstreamClient
  telemetry: Telemetry
  repo: string
}

/**
 * The blobs the mirror holds, whichever upstream they came through: a digest names the
 * same bytes everywhere, so one file, one download in flight and one count of readers
 * serve every upstream. Whether a request may have them is its upstream's question
 * (blob-service.ts), asked before it gets here.
 */
export class BlobCache {
  private readonly fills = new Map<string, Fill>()
  /** Cached blobs being read now, by digest: eviction leaves them alone. */
  private readonly readers = new Map<string, number>()

  constructor(private readonly deps: BlobCacheDeps) {}

  get inFlight(): number {
    return this.fills.size
  }

  /** Being filled or read: not to be evicted now. */
  inUse(digest: string): boolean {
    return this.fills.has(digest) || (this.readers.get(digest) ?? 0) > 0
  }

  /** Filling now or on disk. */
  async holds(digest: string): Promise<boolean> {
    return this.fills.has(digest) || (await this.deps.store.stat(digest)) !== undefined
  }

  /** The size of a blob being filled or on disk. */
  async sizeOf(digest: string): Promise<number | undefined> {
    return this.fills.get(digest)?.size ?? (await this.deps.store.stat(digest))?.size
  }

  /** The blob from an in-flight fill or the disk, if the mirror holds it. */
  async local(digest: string, rangeHeader: string | undefined): Promise<BlobBody | undefined> {
    // In-flight fills first: a fill leaves the map only after its file is in place.
    const joined = this.fills.get(digest)
    if (joined !== undefined) return this.fromFill(joined, rangeHeader, 'coalesced')
    const cached = await this.deps.store.open(digest)
    return cached === undefined ? undefined : this.fromDisk(digest, cached, rangeHeader)
  }

  /** The blob from the cache, or from a download into it that this request starts or joins. */
  async get(ctx: RequestContext, source: FillSource, digest: string, rangeHeader: string | undefined) {
    const local = await this.local(digest, rangeHeader)
    if (local !== undefined) return local
    // Checked again after the await: a fill started meanwhile is joined, not repeated.
    const again = this.fills.get(digest)
    if (again !== undefined) return this.fromFill(again, rangeHeader, 'coalesced')
    return this.fromFill(this.startFill(ctx, source, digest), rangeHeader, 'miss')
  }

  /**
   * For a peer replica: the blob from this replica's cache or its download in progress,
   * never from the upstream (the peer asked because this replica has it or is getting it).
   */
  async forPeer(digest: Digest, rangeHeader: string | undefined): Promise<BlobBody> {
    const local = await this.local(digest.value, rangeHeader)
    if (local === undefined) throw errors.blobUnknown(digest.value)
    return local
  }

  /** Resolves once the fill of this digest, if one runs, has ended (committed or failed). */
  async filled(digest: string): Promise<void> {
    await this.fills.get(digest)?.done
  }

  /** Resolves once every fill running now has ended (committed or failed). */
  async settled(): Promise<void> {
    await Promise.all([...this.fills.values()].map((f) => f.done))
  }

  /** Aborts every fill (shutdown) and waits for their clean-up. */
  async close(): Promise<void> {
    for (const fill of this.fills.values()) fill.abort(new Error('mirror shutting down'))
    await this.settled()
  }

  /** Counts the source as a reader of the blob until it is closed: eviction waits for it. */
  private tracked(digest: string, source: ByteSource): ByteSource {
    this.readers.set(digest, (this.readers.get(digest) ?? 0) + 1)
    let open = true
    return {
      origin: source.origin,
      read: (position, maxLength) => source.read(position, maxLength),
      complete: () => source.complete(),
      close: async () => {
        if (open) {
          open = false
          const left = (this.readers.get(digest) ?? 1) - 1
          if (left > 0) this.readers.set(digest, left)
          else this.readers.delete(digest)
        }
        await source.close()
      },
    }
  }

  private fromDisk(digest: string, blob: OpenBlob, rangeHeader: string | undefined): BlobBody {
    const decision = decideRange(rangeHeader, blob.size)
    if (decision.kind === 'unsatisfiable') {
      void blob.close()
      throw errors.rangeNotSatisfiable(blob.size)
    }
    this.deps.index.touchBlob(digest, this.deps.now())
    const range = decision.kind === 'partial' ? decision.range : undefined
    const source = this.tracked(digest, diskSource(blob, this.deps.pool))
    return { size: blob.size, range, source, outcome: 'hit', private: false }
  }

  private async fromFill(fill: Fill, rangeHeader: string | undefined, outcome: CacheOutcome): Promise<BlobBody> {
    await fill.started
    const size = fill.size
    if (size === undefined) {
      // No length announced: Range cannot be answered, so the whole body goes.
      const source = this.tracked(fill.digest, new FillReader(fill, Infinity, this.deps.pool))
      return { size, range: undefined, source, outcome, private: false }
    }
    const decision = decideRange(rangeHeader, size)
    if (decision.kind === 'unsatisfiable') throw errors.rangeNotSatisfiable(size)
    const range = decision.kind === 'partial' ? decision.range : undefined
    const source = this.tracked(fill.digest, new FillReader(fill, range?.end ?? size - 1, this.deps.pool))
    return { size, range, source, outcome, private: false }
  }

  private startFill(ctx: RequestContext, from: FillSource, digest: string): Fill {
    const fill = new Fill(digest)
    this.fills.set(digest, fill)
    const { store, index, now, peers, peerClient } = this.deps
    const { telemetry } = from
    // The fill outlives the request that started it (a client that leaves mid-blob will
    // most likely ask again), so it runs on its own signal, not the request's, and as
    // the mirror: the repository is public, and a client's credentials are its own.
    const log = ctx.log.child({ fill: digest })
    const origin = { upstream: from.client, peers, peerClient, telemetry }
    const job: FillJob = {
      ...fillOrigin(origin, from.repo, digest, log, ctx.trace),
      store,
      log,
      onCommitted: (stored) =>
        index.putBlob({ digest, size: stored.size, upstream: from.upstream, lastAccess: now() }).catch((e: unknown) => {
          telemetry.indexError('put_blob')
          throw e
        }),
      onBytes: (n) => {
        if (fill.origin === 'upstream') telemetry.upstreamBytes('blob', n)
      },
    }
    void fill.run(job).finally(() => {
      telemetry.fillEnded(fill.failure)
      this.fills.delete(digest)
      if (fill.failure === undefined) this.deps.cacheGrew()
      else if (fill.failure === 'disk_full') this.deps.diskFull()
    })
    return fill
  }
}
