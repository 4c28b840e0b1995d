import type { Dispatcher } from 'undici'
import type { TokenSeal } from '../auth/token-seal.js'
import type { BlobStore } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
import type { UpstreamConfig } from '../config/schema.js'
import { MirrorError } from '../errors.js'
import type { UpstreamObserver } from '../http/upstream-observer.js'
import { normaliseName, validateName } from '../oci/reference.js'
import { repositoryPolicy, type RepositoryPolicy } from '../oci/repository-policy.js'
import type { UpstreamClient } from '../upstream/upstream-client.js'
import { AccessVerdicts } from './access/access-verdicts.js'
import { RegistryAuth } from './access/registry-auth.js'
import type { BlobCache } from './blobs/blob-cache.js'
import { BlobService } from './blobs/blob-service.js'
import { ManifestService, type ManifestBodies } from './manifests/manifest-service.js'
import { ReferrersService } from './referrers-service.js'
import { TagListService } from './tag-list-service.js'
import type { Telemetry } from './telemetry.js'

/** One upstream's own parts, built by the composition root. */
export interface UpstreamParts {
  config: UpstreamConfig
  client: UpstreamClient
  /** For relaying client token requests to the upstream's realm, through its proxy. */
  dispatcher: Dispatcher
  telemetry: Telemetry
  observer: UpstreamObserver
}

/** What every upstream shares. */
export interface SharedParts {
  store: BlobStore
  index: Index
  blobs: BlobCache
  bodies: ManifestBodies
  realmMode: 'mirror' | 'upstream'
  upstreamTimeoutMs: number
  userAgent: string
  cacheGrew: () => void
  now: () => number
  seal: TokenSeal
  /** Several upstreams are served behind one address. */
  several: boolean
}

/**
 * The pull side of one registry: its manifests, blobs, tags, referrers, verdicts and auth,
 * its records in the index kept under its name, over the cache every upstream shares.
 */
export class UpstreamMirror {
  readonly name: string
  readonly url: string
  readonly manifests: ManifestService
  readonly blobs: BlobService
  readonly tags: TagListService
  readonly referrers: ReferrersService
  readonly auth: RegistryAuth
  private readonly policy: RepositoryPolicy

  constructor(
    private readonly own: UpstreamParts,
    shared: SharedParts,
  ) {
    const { config, client: upstream, telemetry } = own
    const { index, now } = shared
    this.name = config.name
    this.url = config.url
    this.policy = repositoryPolicy(config.allow, config.deny)
    const verdicts = new AccessVerdicts({
      upstream,
      index,
      upstreamName: config.name,
      ttlMs: config.verdictTtlSeconds * 1000,
      telemetry,
      now,
    })
    this.manifests = new ManifestService({
      upstream,
      store: shared.store,
      index,
      verdicts,
      upstreamName: config.name,
      bodies: shared.bodies,
      tagTtlMs: config.tagTtlSeconds * 1000,
      telemetry,
      cacheGrew: shared.cacheGrew,
      now,
    })
    this.blobs = new BlobService({ name: config.name, upstream, cache: shared.blobs, verdicts, telemetry })
    this.tags = new TagListService(upstream, verdicts)
    this.referrers = new ReferrersService(upstream, verdicts)
    this.auth = new RegistryAuth({
      name: config.name,
      upstream,
      seal: shared.seal,
      beside: shared.several,
      dispatcher: own.dispatcher,
      realmMode: shared.realmMode,
      timeoutMs: shared.upstreamTimeoutMs,
      userAgent: shared.userAgent,
      observer: own.observer,
    })
  }

  get client(): UpstreamClient {
    return this.own.client
  }

  /** Configured offline: never contacted, not even for writes. */
  get offline(): boolean {
    return this.own.config.offline
  }

  /** A repository name with this upstream's default namespace, unchecked (a token scope's). */
  normalised(name: string): string {
    return normaliseName(name, this.own.config.defaultNamespace)
  }

  /**
   * A client's repository name as this upstream and the cache know it: validated, with
   * the default namespace, and refused when the upstream's allow and deny lists say so.
   */
  repository(name: string): string {
    const repo = normaliseName(validateName(name), this.own.config.defaultNamespace)
    if (!this.policy(repo)) {
      throw new MirrorError('DENIED', 403, `repository ${repo} of ${this.name} is not served by this mirror`, {
        detail: { registry: this.name, name: repo },
      })
    }
    return repo
  }
}
