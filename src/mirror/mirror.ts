import type { BlobStore } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
import { errors } from '../errors.js'
import type { TokenRequest } from '../auth/token-relay.js'
import type { TokenSeal } from '../auth/token-seal.js'
import { requestRepositories } from '../auth/token-scope.js'
import { routeOf } from '../oci/upstream-route.js'
import { BlobCache } from './blobs/blob-cache.js'
import type { BufferPool } from '../buffers/buffer-pool.js'
import { manifestBodies } from './manifests/manifest-service.js'
import type { Telemetry } from './telemetry.js'
import { Evictor, type CacheBound } from './eviction.js'
import type { Logger } from '../logger.js'
import type { Peers } from '../cache/peers.js'
import type { PeerClient } from '../upstream/peer-client.js'
import { UpstreamMirror, type UpstreamParts } from './upstream-mirror.js'

export interface MirrorDeps {
  /** Every upstream's own parts, the default first. */
  upstreams: readonly UpstreamParts[]
  store: BlobStore
  index: Index
  realmMode: 'mirror' | 'upstream'
  upstreamTimeoutMs: number
  userAgent: string
  pool: BufferPool
  /** For what no upstream owns: eviction, the index. */
  telemetry: Telemetry
  bound: CacheBound
  /** Eviction waits for it: until the index matches the disk, its totals fall short. */
  evictionReady?: Promise<unknown>
  peers: Peers
  peerClient: PeerClient | undefined
  log: Logger
  now: () => number
  /** Seals Basic upstreams' client credentials into tokens; one key for every upstream. */
  seal: TokenSeal
}

/** An upstream a request is for, and the repository name inside it (before the default namespace). */
export interface Routed {
  upstream: UpstreamMirror
  name: string | undefined
  /** The registry prefix the client's path carried, as written. */
  prefix: string | undefined
}

/** See Mirror.tokenRoute. */
export interface TokenRoute {
  upstream: UpstreamMirror
  /** A scope's repository name as the client wrote it → as the upstream knows it. */
  rename: (name: string) => string
}

/**
 * The pull side of a registry mirror, as use cases with no HTTP in them: one
 * UpstreamMirror per registry served, over one cache (blobs, downloads in flight,
 * eviction) that all of them share.
 */
export class Mirror {
  /** The blobs every upstream shares. */
  readonly blobs: BlobCache
  readonly evictor: Evictor
  /** The upstream a request that names no registry goes to. */
  readonly default: UpstreamMirror
  private readonly byName = new Map<string, UpstreamMirror>()
  private readonly served: ReadonlySet<string>

  constructor(private readonly deps: MirrorDeps) {
    const { store, index, telemetry, now } = deps
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
    this.blobs = new BlobCache({
      store,
      index,
      pool: deps.pool,
      peers: deps.peers,
      peerClient: deps.peerClient,
      cacheGrew,
      diskFull: () => {
        void this.evictor.diskFull()
      },
      now,
    })
    const shared = {
      store,
      index,
      blobs: this.blobs,
      bodies: manifestBodies(),
      realmMode: deps.realmMode,
      upstreamTimeoutMs: deps.upstreamTimeoutMs,
      userAgent: deps.userAgent,
      cacheGrew,
      now,
      seal: deps.seal,
      several: deps.upstreams.length > 1,
    }
    for (const parts of deps.upstreams) this.byName.set(parts.config.name, new UpstreamMirror(parts, shared))
    const first = deps.upstreams[0]
    if (first === undefined) throw new Error('a mirror needs an upstream')
    this.default = this.byName.get(first.config.name)!
    this.served = new Set(this.byName.keys())
  }

  /** The names of the registries served, the default first. */
  get names(): string[] {
    return [...this.byName.keys()]
  }

  upstream(name: string): UpstreamMirror | undefined {
    return this.byName.get(name)
  }

  /**
   * The upstream a request is for, from its repository name as the path has it and its
   * `ns` values (see routeOf). A registry the mirror does not serve, or two that disagree,
   * is refused here, before any upstream or the cache is asked.
   */
  route(name: string | undefined, namespaces: readonly string[]): Routed {
    const route = routeOf({
      name,
      namespaces,
      upstreams: this.served,
      defaultUpstream: this.default.name,
    })
    if (route.kind === 'unknown') throw errors.registryUnknown(route.registry, this.names)
    if (route.kind === 'conflict') throw errors.registryConflict(route.registries)
    return { upstream: this.byName.get(route.upstream)!, name: route.name, prefix: route.prefix }
  }

  /**
   * The upstream a client's token request is for: the one its realm URL names (`bound`:
   * an upstream's challenges name `/token/<name>`), else the one its scopes name by their
   * registry prefix (Docker pulling `mirror/ghcr.io/org/app` asks the ping's realm for
   * `repository:ghcr.io/org/app:pull`), else the default; and how its scopes' names read
   * in that upstream. Scopes of two upstreams in one request are refused.
   */
  tokenRoute(bound: string | undefined, request: TokenRequest): TokenRoute {
    const namespaces = bound === undefined ? [] : [bound]
    const routes = new Map(requestRepositories(request).map((name) => [name, this.route(name, namespaces)]))
    const upstreams = new Set([...routes.values()].map((r) => r.upstream))
    if (upstreams.size > 1) throw errors.registryConflict([...upstreams].map((u) => u.name))
    const upstream = [...upstreams][0] ?? this.route(undefined, namespaces).upstream
    const rename = (name: string) => {
      const inside = routes.get(name)?.name
      return inside === undefined ? name : upstream.normalised(inside)
    }
    return { upstream, rename }
  }

  async close(): Promise<void> {
    await this.blobs.close()
    await this.deps.peers.close()
  }
}
