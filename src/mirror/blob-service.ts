import type { BlobStore, OpenBlob } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
import { errors, UpstreamUnavailableError } from '../errors.js'
import type { Digest } from '../oci/digest.js'
import { decideRange, type ByteRange } from '../oci/range.js'
import { contentLengthOf } from '../http/body.js'
import type { UpstreamClient } from '../upstream/upstream-client.js'
import { Fill } from './fill.js'
import type { BufferPool } from './buffer-pool.js'
import { diskSource, type ByteSource } from './byte-source.js'
import { FillSource } from './fill-source.js'
import type { CacheOutcome, RequestContext } from './request-context.js'
import { statusError } from './upstream-errors.js'

export interface BlobBody {
  /** Size of the whole blob; undefined only when the upstream announced none. */
  size: number | undefined
  /** Set for a 206 answer. */
  range: ByteRange | undefined
  /** The bytes to send; the caller closes it. */
  source: ByteSource
  outcome: CacheOutcome
}

export interface BlobHead {
  size: number
  outcome: CacheOutcome
}

export interface BlobServiceDeps {
  upstream: UpstreamClient
  store: BlobStore
  index: Index
  /** The upstream's identity, recorded with each blob. */
  upstreamHost: string
  /** Buffers for reading blobs from disk into responses. */
  pool: BufferPool
  now: () => number
}

export function blobPath(repo: string, digest: string): string {
  return `/v2/${repo}/blobs/${digest}`
}

/**
 * Blobs: served from disk when cached, else fetched once into the cache while every
 * concurrent request for the digest reads the same fill.
 */
export class BlobService {
  private readonly fills = new Map<string, Fill>()

  constructor(private readonly deps: BlobServiceDeps) {}

  get inFlight(): number {
    return this.fills.size
  }

  async get(ctx: RequestContext, repo: string, digest: Digest, rangeHeader: string | undefined): Promise<BlobBody> {
    // In-flight fills first: a fill leaves the map only after its file is in place.
    const joined = this.fills.get(digest.value)
    if (joined !== undefined) return this.fromFill(joined, rangeHeader, 'coalesced')
    const cached = await this.deps.store.open(digest.value)
    if (cached !== undefined) return this.fromDisk(digest.value, cached, rangeHeader)
    const again = this.fills.get(digest.value)
    if (again !== undefined) return this.fromFill(again, rangeHeader, 'coalesced')
    return this.fromFill(this.startFill(ctx, repo, digest.value), rangeHeader, 'miss')
  }

  /**
   * Whether this repository has the blob is the upstream's to say (a client about to push
   * asks exactly that), so a HEAD goes upstream; the cache answers only when the upstream
   * cannot be reached.
   */
  async head(ctx: RequestContext, repo: string, digest: Digest): Promise<BlobHead> {
    let response
    try {
      response = await this.deps.upstream.send({
        method: 'HEAD',
        path: blobPath(repo, digest.value),
        repo,
        auth: ctx.auth,
        signal: ctx.signal,
      })
    } catch (e) {
      if (!(e instanceof UpstreamUnavailableError)) throw e
      return this.localHead(digest, e)
    }
    const size = contentLengthOf(response.headers)
    if (response.status === 200 && size !== undefined) {
      await response.body.dump()
      return { size, outcome: 'miss' }
    }
    const error = await statusError(response)
    if (response.status >= 500) return this.localHead(digest, error)
    throw error
  }

  private async localHead(digest: Digest, upstreamError: Error): Promise<BlobHead> {
    const size = this.fills.get(digest.value)?.size ?? (await this.deps.store.stat(digest.value))?.size
    if (size === undefined) throw upstreamError
    return { size, outcome: 'stale' }
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

  private fromDisk(digest: string, blob: OpenBlob, rangeHeader: string | undefined): BlobBody {
    const decision = decideRange(rangeHeader, blob.size)
    if (decision.kind === 'unsatisfiable') {
      void blob.close()
      throw errors.rangeNotSatisfiable(blob.size)
    }
    this.deps.index.touchBlob(digest, this.deps.now())
    const range = decision.kind === 'partial' ? decision.range : undefined
    return { size: blob.size, range, source: diskSource(blob, this.deps.pool), outcome: 'hit' }
  }

  private async fromFill(fill: Fill, rangeHeader: string | undefined, outcome: CacheOutcome): Promise<BlobBody> {
    await fill.started
    const size = fill.size
    if (size === undefined) {
      // No length announced: Range cannot be answered, so the whole body goes.
      return { size, range: undefined, source: new FillSource(fill, Infinity, this.deps.pool), outcome }
    }
    const decision = decideRange(rangeHeader, size)
    if (decision.kind === 'unsatisfiable') throw errors.rangeNotSatisfiable(size)
    const range = decision.kind === 'partial' ? decision.range : undefined
    return { size, range, source: new FillSource(fill, range?.end ?? size - 1, this.deps.pool), outcome }
  }

  private startFill(ctx: RequestContext, repo: string, digest: string): Fill {
    const fill = new Fill(digest)
    this.fills.set(digest, fill)
    const { upstream, store, index, upstreamHost, now } = this.deps
    // The fill outlives the request that started it (a client that leaves mid-blob will
    // most likely ask again), so it runs on its own signal, not the request's.
    void fill
      .run({
        fetch: (signal) => upstream.send({ method: 'GET', path: blobPath(repo, digest), repo, auth: ctx.auth, signal }),
        store,
        log: ctx.log.child({ fill: digest }),
        onCommitted: (stored) =>
          index.putBlob({ digest, size: stored.size, upstream: upstreamHost, lastAccess: now() }),
      })
      .finally(() => this.fills.delete(digest))
    return fill
  }
}
