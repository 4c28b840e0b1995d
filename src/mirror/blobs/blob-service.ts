import type { BlobStore, OpenBlob } from '../../cache/blob-store.js'
import type { Index } from '../../cache/cache-index.js'
import { errors, UpstreamUnavailableError } from '../../errors.js'
import { contentLengthOf } from '../../http/body.js'
import { blobPath } from '../../oci/api-path.js'
import type { Digest } from '../../oci/digest.js'
import { decideRange } from '../../oci/range.js'
import type { UpstreamAuth, UpstreamClient } from '../../upstream/upstream-client.js'
import type { AccessVerdicts } from '../access/access-verdicts.js'
import type { BufferPool } from '../../buffers/buffer-pool.js'
import type { ByteSource } from '../byte-source.js'
import { diskSource } from './disk-source.js'
import { Fill, type FillJob } from '../fill/fill.js'
import { fillOrigin } from '../fill/fill-origin.js'
import { FillReader } from '../fill/fill-reader.js'
import type { Peers } from '../../cache/peers.js'
import type { PeerClient } from '../../upstream/peer-client.js'
import { passThroughBlob } from './private-blobs.js'
import type { CacheOutcome, RequestContext } from '../request-context.js'
import type { BlobBody, BlobHead } from '../results.js'
import type { Telemetry } from '../telemetry.js'
import { statusError } from '../upstream-errors.js'

export interface BlobServiceDeps {
  upstream: UpstreamClient
  store: BlobStore
  index: Index
  verdicts: AccessVerdicts
  /** The upstream's identity, recorded with each blob. */
  upstreamHost: string
  /** Buffers for reading blobs from disk into responses. */
  pool: BufferPool
  telemetry: Telemetry
  /** The replicas this one shares its index with; `alone` for a single mirror. */
  peers: Peers
  peerClient: PeerClient | undefined
  /** Told when the cache grew (it may need evicting) and when the disk filled up. */
  cacheGrew: () => void
  diskFull: () => void
  now: () => number
}

const MIRROR: UpstreamAuth = { kind: 'mirror' }

/**
 * Blobs of public repositories: served from disk when cached, else fetched once into the
 * cache while every concurrent request for the digest reads the same fill. Blobs of
 * private repositories are never stored: see private-blobs.ts.
 */
export class BlobService {
  private readonly fills = new Map<string, Fill>()
  /** Cached blobs being read now, by digest: eviction leaves them alone. */
  private readonly readers = new Map<string, number>()

  constructor(private readonly deps: BlobServiceDeps) {}

  get inFlight(): number {
    return this.fills.size
  }

  /** Being filled or read: not to be evicted now. */
  inUse(digest: string): boolean {
    return this.fills.has(digest) || (this.readers.get(digest) ?? 0) > 0
  }

  async get(ctx: RequestContext, repo: string, digest: Digest, rangeHeader: string | undefined): Promise<BlobBody> {
    const access = await this.deps.verdicts.check(ctx, repo, { kind: 'blob', digest: digest.value })
    if (access === 'private') return this.privateGet(ctx, repo, digest, rangeHeader)
    const local = await this.local(digest.value, rangeHeader)
    if (local !== undefined) return local
    // Checked again after the await: a fill started meanwhile is joined, not repeated.
    const again = this.fills.get(digest.value)
    if (again !== undefined) return this.fromFill(again, rangeHeader, 'coalesced')
    return this.fromFill(this.startFill(ctx, repo, digest.value), rangeHeader, 'miss')
  }

  /**
   * Whether this repository has the blob is the upstream's to say (a client about to push
   * asks exactly that), so a HEAD goes upstream; for a public repository the cache
   * answers when the upstream cannot be reached.
   */
  async head(ctx: RequestContext, repo: string, digest: Digest): Promise<BlobHead> {
    const access = await this.deps.verdicts.check(ctx, repo, { kind: 'blob', digest: digest.value })
    const isPrivate = access === 'private'
    let response
    try {
      response = await this.deps.upstream.send({
        method: 'HEAD',
        path: blobPath(repo, digest.value),
        repo,
        auth: isPrivate ? { kind: 'client', credentials: ctx.credentials } : MIRROR,
        signal: ctx.signal,
        trace: ctx.trace,
      })
    } catch (e) {
      if (isPrivate || !(e instanceof UpstreamUnavailableError)) throw e
      return this.localHead(digest, e)
    }
    const size = contentLengthOf(response.headers)
    if (response.status === 200 && size !== undefined) {
      await response.body.dump()
      return { size, outcome: isPrivate ? 'bypass' : 'miss', private: isPrivate }
    }
    const error = await statusError(response)
    if (response.status >= 500 && !isPrivate) return this.localHead(digest, error)
    throw error
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

  /**
   * A private repository's blob: from the cache only once the upstream has confirmed, with
   * the client's own credentials, that this client may read it there (a HEAD); otherwise
   * streamed through without storing a byte.
   */
  private async privateGet(
    ctx: RequestContext,
    repo: string,
    digest: Digest,
    rangeHeader: string | undefined,
  ): Promise<BlobBody> {
    const auth: UpstreamAuth = { kind: 'client', credentials: ctx.credentials }
    const held = this.fills.has(digest.value) || (await this.deps.store.stat(digest.value)) !== undefined
    if (held) {
      const path = blobPath(repo, digest.value)
      const confirm = await this.deps.upstream.send({ method: 'HEAD', path, repo, auth, trace: ctx.trace })
      if (confirm.status !== 200) throw await statusError(confirm)
      await confirm.body.dump()
      const local = await this.local(digest.value, rangeHeader)
      if (local !== undefined) {
        const bytes = local.range === undefined ? (local.size ?? 0) : local.range.end - local.range.start + 1
        this.deps.telemetry.privateCacheBytes(bytes)
        ctx.log.debug({ digest: digest.value, bytes }, 'private request served from the public cache')
        return { ...local, outcome: 'hit', private: true }
      }
    }
    return passThroughBlob(this.deps.upstream, ctx, repo, digest, rangeHeader, (n) =>
      this.deps.telemetry.upstreamBytes('blob', n),
    )
  }

  /** The blob from an in-flight fill or the disk, if the mirror holds it. */
  private async local(digest: string, rangeHeader: string | undefined): Promise<BlobBody | undefined> {
    // In-flight fills first: a fill leaves the map only after its file is in place.
    const joined = this.fills.get(digest)
    if (joined !== undefined) return this.fromFill(joined, rangeHeader, 'coalesced')
    const cached = await this.deps.store.open(digest)
    return cached === undefined ? undefined : this.fromDisk(digest, cached, rangeHeader)
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

  private async localHead(digest: Digest, upstreamError: Error): Promise<BlobHead> {
    const size = this.fills.get(digest.value)?.size ?? (await this.deps.store.stat(digest.value))?.size
    if (size === undefined) throw upstreamError
    return { size, outcome: 'stale', private: false }
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

  private startFill(ctx: RequestContext, repo: string, digest: string): Fill {
    const fill = new Fill(digest)
    this.fills.set(digest, fill)
    const { store, index, upstreamHost, telemetry, now } = this.deps
    // The fill outlives the request that started it (a client that leaves mid-blob will
    // most likely ask again), so it runs on its own signal, not the request's, and as
    // the mirror: the repository is public, and a client's credentials are its own.
    const log = ctx.log.child({ fill: digest })
    const job: FillJob = {
      ...fillOrigin(this.deps, repo, digest, log, ctx.trace),
      store,
      log,
      onCommitted: (stored) =>
        index.putBlob({ digest, size: stored.size, upstream: upstreamHost, lastAccess: now() }).catch((e: unknown) => {
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
