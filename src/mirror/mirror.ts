import type { Dispatcher } from 'undici'
import type { BlobStore } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
import { normaliseName, validateName } from '../oci/reference.js'
import type { UpstreamClient } from '../upstream/upstream-client.js'
import { AccessVerdicts } from './access/access-verdicts.js'
import { BlobService } from './blobs/blob-service.js'
import type { BufferPool } from '../buffers/buffer-pool.js'
import { ManifestService } from './manifests/manifest-service.js'
import { ReferrersService } from './referrers-service.js'
import { RegistryAuth } from './access/registry-auth.js'
import { TagListService } from './tag-list-service.js'
import type { Telemetry } from './telemetry.js'
import { Evictor, type CacheBound } from './eviction.js'
import type { Logger } from '../logger.js'
import type { Peers } from '../cache/peers.js'
import type { PeerClient } from '../upstream/peer-client.js'
import type { UpstreamObserver } from '../http/upstream-observer.js'

export interface MirrorDeps {
  upstream: UpstreamClient
  /** For relaying client token requests to the upstream's realm. */
  dispatcher: Dispatcher
  store: BlobStore
  index: Index
  upstreamHost: string
  defaultNamespace: string
  tagTtlSeconds: number
  verdictTtlSeconds: number
  realmMode: 'mirror' | 'upstream'
  upstreamTimeoutMs: number
  userAgent: string
  pool: BufferPool
  observer: UpstreamObserver
  telemetry: Telemetry
  bound: CacheBound
  /** Eviction waits for it: until the index matches the disk, its totals fall short. */
  evictionReady?: Promise<unknown>
  peers: Peers
  peerClient: PeerClient | undefined
  log: Logger
  now: () => number
}

/** The pull side of a registry, as use cases with no HTTP in them. */
export class Mirror {
  readonly manifests: ManifestService
  readonly blobs: BlobService
  readonly tags: TagListService
  readonly referrers: ReferrersService
  readonly auth: RegistryAuth
  readonly evictor: Evictor

  constructor(private readonly deps: MirrorDeps) {
    const { upstream, store, index, upstreamHost, telemetry, now } = deps
    const ttlMs = deps.verdictTtlSeconds * 1000
    const verdicts = new AccessVerdicts({ upstream, index, upstreamHost, ttlMs, telemetry, now })
    this.evictor = new Evictor({
      index,
      store,
      bound: deps.bound,
      inUse: (digest) => this.blobs.inUse(digest),
      telemetry,
      log: deps.log,
      ready: deps.evictionReady,
    })
    const cacheGrew = () => {
      void this.evictor.check()
    }
    this.manifests = new ManifestService({
      upstream,
      store,
      index,
      verdicts,
      upstreamHost,
      tagTtlMs: deps.tagTtlSeconds * 1000,
      telemetry,
      cacheGrew,
      now,
    })
    this.blobs = new BlobService({
      upstream,
      store,
      index,
      verdicts,
      upstreamHost,
      pool: deps.pool,
      telemetry,
      peers: deps.peers,
      peerClient: deps.peerClient,
      cacheGrew,
      diskFull: () => {
        void this.evictor.diskFull()
      },
      now,
    })
    this.tags = new TagListService(upstream, verdicts)
    this.referrers = new ReferrersService(upstream, verdicts)
    this.auth = new RegistryAuth({
      upstream,
      dispatcher: deps.dispatcher,
      realmMode: deps.realmMode,
      timeoutMs: deps.upstreamTimeoutMs,
      userAgent: deps.userAgent,
      observer: deps.observer,
    })
  }

  /** Validates a client's repository name and returns the name the upstream and cache use. */
  repository(name: string): string {
    return normaliseName(validateName(name), this.deps.defaultNamespace)
  }

  async close(): Promise<void> {
    await this.blobs.close()
    await this.deps.peers.close()
  }
}
