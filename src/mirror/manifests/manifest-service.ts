import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { LRUCache } from 'lru-cache'
import type { BlobStore } from '../../cache/blob-store.js'
import { tagKeyString, type Index, type TagKey, type TagRecord } from '../../cache/cache-index.js'
import { errors, UpstreamOfflineError } from '../../errors.js'
import { manifestPath } from '../../oci/api-path.js'
import type { Digest } from '../../oci/digest.js'
import { ACCEPT_ALL_MANIFESTS, acceptHeaderFor, acceptKey, isSchema1 } from '../../oci/media-types.js'
import { referenceText, type Reference } from '../../oci/reference.js'
import type { UpstreamAuth, UpstreamClient, UpstreamResponse } from '../../upstream/upstream-client.js'
import type { AccessVerdicts } from '../access/access-verdicts.js'
import { headRecord, readVerifiedManifest, type ManifestBody } from './manifest-body.js'
import { isUpstreamFailure, parseKnownDigest, passedThrough } from './manifest-rules.js'
import { passThroughManifest } from './private-manifests.js'
import type { CacheOutcome, RequestContext } from '../request-context.js'
import type { ManifestResult } from '../results.js'
import type { Telemetry } from '../telemetry.js'
import { SingleFlight } from '../single-flight.js'
import { statusError } from '../upstream-errors.js'

/** Manifests are read far more often than layers and are tiny: keep the hot ones in memory. */
const MEMORY_CACHE_BYTES = 32 * 1024 * 1024

/** Verified manifest bodies by digest, shared by every upstream: a digest is the same bytes anywhere. */
export type ManifestBodies = LRUCache<string, Buffer>

export function manifestBodies(): ManifestBodies {
  return new LRUCache<string, Buffer>({ maxSize: MEMORY_CACHE_BYTES, sizeCalculation: (b) => Math.max(1, b.length) })
}

interface Resolved {
  record: TagRecord
  outcome: CacheOutcome
  body?: Buffer
}

export interface ManifestServiceDeps {
  upstream: UpstreamClient
  store: BlobStore
  index: Index
  verdicts: AccessVerdicts
  /** The upstream's name: tag mappings and blob records are kept under it. */
  upstreamName: string
  /** The hot manifests of every upstream. */
  bodies: ManifestBodies
  tagTtlMs: number
  telemetry: Telemetry
  cacheGrew: () => void
  now: () => number
}

const MIRROR: UpstreamAuth = { kind: 'mirror' }

function hit(digest: string, mediaType: string, size: number): ManifestResult {
  return { digest, mediaType, size, outcome: 'hit', private: false }
}

/**
 * Manifests of public repositories: by digest they are immutable and served from the cache; a tag resolves to
 * a digest through a mapping kept per kind of client, re-checked with a HEAD once older
 * than the TTL, and served stale when the upstream cannot be asked. Private
 * repositories' manifests pass through (private-manifests.ts).
 *
 * Upstream requests here are shared by every caller of a flight, so they do not carry
 * one client's abort signal; the upstream timeouts bound them instead.
 */
export class ManifestService {
  private readonly tagFlights = new SingleFlight<Resolved>()
  private readonly digestFlights = new SingleFlight<ManifestResult>()

  constructor(private readonly deps: ManifestServiceDeps) {}

  async get(
    ctx: RequestContext,
    repo: string,
    reference: Reference,
    accept: string | string[] | undefined,
    wantBody: boolean,
  ): Promise<ManifestResult> {
    const probe = { kind: 'manifest' as const, reference: referenceText(reference) }
    const decision = await this.deps.verdicts.decide(ctx, repo, probe)
    if (decision.access === 'private') {
      return passThroughManifest(this.deps.upstream, ctx, repo, reference, accept, wantBody)
    }
    if (decision.access === 'unverified') return this.cacheOnly(ctx, repo, reference, accept, wantBody, decision.cause)
    if (reference.kind === 'digest') return this.byDigest(ctx, repo, reference.digest, wantBody)
    const key = this.tagKey(repo, reference.tag, accept)
    const known = await this.knownTag(ctx, key)
    let resolved: Resolved
    if (known !== undefined && this.deps.now() - known.checkedAt < this.deps.tagTtlMs) {
      resolved = { record: known, outcome: 'hit' }
    } else {
      const flight = await this.tagFlights.run(tagKeyString(key), () => this.refresh(ctx, key, known, wantBody))
      resolved = flight.joined ? { ...flight.value, outcome: 'coalesced' } : flight.value
    }
    const { record, outcome } = resolved
    const head = { digest: record.digest, mediaType: record.mediaType, size: record.size, outcome, private: false }
    if (!wantBody) return head
    if (resolved.body !== undefined) return { ...head, body: resolved.body }
    // The bytes as cached, with the type and length they were stored with.
    const stored = await this.byDigest(ctx, repo, parseKnownDigest(record.digest), true)
    return { ...head, mediaType: stored.mediaType, size: stored.size, body: stored.body }
  }

  /**
   * The answer get() gives for a cached public manifest, when everything it rests on is
   * known this instant: a fresh public verdict, a fresh tag mapping, the manifest's record
   * and, for a body, its bytes in memory (an index whose memory is the truth has the
   * peeks). The rules are get()'s, without a promise or a turn of the event loop: this is
   * every node's request on every pull. Undefined whenever get() could do anything else.
   */
  peek(
    repo: string,
    reference: Reference,
    accept: string | string[] | undefined,
    wantBody: boolean,
  ): ManifestResult | undefined {
    const { index, bodies, now } = this.deps
    if (this.deps.verdicts.peek(repo) !== 'public') return undefined
    let digest: string
    if (reference.kind === 'tag') {
      const record = index.peekTag?.(this.tagKey(repo, reference.tag, accept))
      if (record === undefined || now() - record.checkedAt >= this.deps.tagTtlMs) return undefined
      if (!wantBody) return hit(record.digest, record.mediaType, record.size)
      digest = record.digest
    } else {
      digest = reference.digest.value
    }
    const stored = index.peekBlob?.(digest)
    if (stored?.mediaType === undefined) return undefined
    const body = wantBody ? bodies.get(digest) : undefined
    if (wantBody && body === undefined) return undefined
    index.touchBlob(digest, now())
    const result = hit(digest, stored.mediaType, stored.size)
    return body === undefined ? result : { ...result, body }
  }

  /**
   * Without a verdict, because the upstream cannot be asked: what the cache holds (a tag
   * by its last known mapping, whatever its age), marked stale; else the failure to ask.
   */
  private async cacheOnly(
    ctx: RequestContext,
    repo: string,
    reference: Reference,
    accept: string | string[] | undefined,
    wantBody: boolean,
    cause: Error,
  ): Promise<ManifestResult> {
    const digest =
      reference.kind === 'digest'
        ? reference.digest.value
        : (await this.knownTag(ctx, this.tagKey(repo, reference.tag, accept)))?.digest
    const cached = digest === undefined ? undefined : await this.cached(ctx, digest, wantBody)
    if (cached === undefined) throw cause
    return { ...cached, outcome: 'stale' }
  }

  private tagKey(repo: string, tag: string, accept: string | string[] | undefined): TagKey {
    return { upstream: this.deps.upstreamName, repo, tag, accept: acceptKey(accept) }
  }

  private knownTag(ctx: RequestContext, key: TagKey): Promise<TagRecord | undefined> {
    return this.deps.index.getTag(key).catch((e: unknown) => {
      this.deps.telemetry.indexError('get_tag')
      ctx.log.warn({ err: e }, 'index unavailable for tag lookup')
      return undefined
    })
  }

  /**
   * A tag pushed or deleted through the mirror: every mapping of it goes, whatever the
   * clients accepted, so the next pull asks the upstream at once instead of serving the
   * old digest until the TTL runs out.
   */
  async tagChanged(ctx: Pick<RequestContext, 'log'>, repo: string, tag: string): Promise<void> {
    await this.deps.index.deleteTags(this.deps.upstreamName, repo, tag).catch((e: unknown) => {
      this.deps.telemetry.indexError('delete_tags')
      ctx.log.warn({ err: e, repo, tag }, 'changed tag not forgotten; it is re-checked after the tag TTL')
    })
  }

  private async byDigest(
    ctx: RequestContext,
    repo: string,
    digest: Digest,
    wantBody: boolean,
  ): Promise<ManifestResult> {
    const cached = await this.cached(ctx, digest.value, wantBody)
    if (cached !== undefined) return cached
    // Per repository: the upstream may hold a digest in one repository and not another.
    const flight = await this.digestFlights.run(`${repo}@${digest.value}`, () => this.fetchByDigest(ctx, repo, digest))
    return flight.joined ? { ...flight.value, outcome: 'coalesced' } : flight.value
  }

  private async cached(ctx: RequestContext, digest: string, wantBody: boolean): Promise<ManifestResult | undefined> {
    const record = await this.deps.index.getBlob(digest).catch(() => undefined)
    const stored = record?.mediaType === undefined ? await this.deps.store.stat(digest) : undefined
    const mediaType = record?.mediaType ?? stored?.mediaType
    const size = record?.size ?? stored?.size
    if (mediaType === undefined || size === undefined) return undefined
    this.deps.index.touchBlob(digest, this.deps.now())
    if (stored !== undefined) {
      // On disk but not in the index (a lost index): put the record back.
      await this.remember(ctx, { digest, mediaType, size })
    }
    if (!wantBody) return { digest, mediaType, size, outcome: 'hit', private: false }
    const body = this.deps.bodies.get(digest) ?? (await this.deps.store.read(digest))
    if (body === undefined) return undefined
    this.deps.bodies.set(digest, body)
    return { digest, mediaType, size, body, outcome: 'hit', private: false }
  }

  private async fetchByDigest(ctx: RequestContext, repo: string, digest: Digest): Promise<ManifestResult> {
    const response = await this.deps.upstream.send({
      method: 'GET',
      path: manifestPath(repo, digest.value),
      repo,
      accept: ACCEPT_ALL_MANIFESTS,
      auth: MIRROR,
      trace: ctx.trace,
    })
    const fetched = await readVerifiedManifest(response, digest)
    this.deps.telemetry.upstreamBytes('manifest', fetched.size)
    if (isSchema1(fetched.mediaType)) passedThrough(ctx, repo, fetched)
    else await this.keep(ctx, fetched)
    return { ...fetched, outcome: 'miss', private: false }
  }

  /** A stale or missing tag: ask the upstream, keep the answer, or fall back to the stale one. */
  private async refresh(
    ctx: RequestContext,
    key: TagKey,
    known: TagRecord | undefined,
    wantBody: boolean,
  ): Promise<Resolved> {
    if (known !== undefined || !wantBody) {
      const headed = await this.headTag(ctx, key, known)
      if (headed !== undefined) return headed
    }
    let fetched: ManifestBody
    try {
      const response = await this.deps.upstream.send({
        method: 'GET',
        path: manifestPath(key.repo, key.tag),
        repo: key.repo,
        accept: acceptHeaderFor(key.accept),
        auth: MIRROR,
        trace: ctx.trace,
      })
      fetched = await readVerifiedManifest(response, undefined)
    } catch (e) {
      if (known !== undefined && isUpstreamFailure(e)) return this.stale(ctx, known, e as Error)
      throw e
    }
    this.deps.telemetry.upstreamBytes('manifest', fetched.size)
    const record = {
      digest: fetched.digest,
      mediaType: fetched.mediaType,
      size: fetched.size,
      checkedAt: this.deps.now(),
    }
    if (isSchema1(fetched.mediaType)) {
      passedThrough(ctx, key.repo, fetched)
      // Whatever the tag named for these clients before, it is schema 1 now, and not kept.
      if (known !== undefined) await this.deps.index.deleteTag(key).catch(() => {})
      return { record, outcome: 'miss', body: fetched.body }
    }
    await this.keep(ctx, fetched)
    await this.saveTag(ctx, key, record)
    return { record, outcome: 'miss', body: fetched.body }
  }

  /**
   * Re-checks a tag with a HEAD (Docker Hub does not count HEADs against its rate limit).
   * Undefined means "GET it instead" (the upstream's HEAD said too little).
   */
  private async headTag(ctx: RequestContext, key: TagKey, known: TagRecord | undefined): Promise<Resolved | undefined> {
    let response: UpstreamResponse
    try {
      response = await this.deps.upstream.send({
        method: 'HEAD',
        path: manifestPath(key.repo, key.tag),
        repo: key.repo,
        accept: acceptHeaderFor(key.accept),
        auth: MIRROR,
        trace: ctx.trace,
      })
    } catch (e) {
      if (known !== undefined && isUpstreamFailure(e)) return this.stale(ctx, known, e as Error)
      throw e
    }
    if (response.status === 200) {
      await response.body.dump()
      const record = headRecord(response, this.deps.now())
      // Schema 1 is never mapped (see passedThrough): its GET decides.
      if (record === undefined || isSchema1(record.mediaType)) return undefined
      await this.saveTag(ctx, key, record)
      const same = known?.digest === record.digest
      return { record, outcome: same ? 'revalidated' : 'miss' }
    }
    const error = await statusError(response)
    if (response.status === 404) {
      await this.deps.index.deleteTag(key).catch(() => {})
      // A HEAD carries no error body to relay: say what a registry says of a missing tag.
      throw errors.manifestUnknown(key.tag)
    }
    // Stale-if-error: an upstream that is failing or rate limiting does not take a known tag away.
    if (known !== undefined && isUpstreamFailure(error)) return this.stale(ctx, known, error)
    throw error
  }

  private stale(ctx: RequestContext, known: TagRecord, cause: Error): Resolved {
    // Offline, every tag is served this way: not news for every request.
    const level = cause instanceof UpstreamOfflineError ? 'debug' : 'warn'
    ctx.log[level]({ err: cause, digest: known.digest }, 'upstream failed; serving stale tag')
    return { record: known, outcome: 'stale' }
  }

  /** Keeps a verified manifest in memory, on disk and in the index; failures only cost caching. */
  private async keep(ctx: RequestContext, m: ManifestBody): Promise<void> {
    this.deps.bodies.set(m.digest, m.body)
    try {
      const writer = await this.deps.store.createWriter({
        digest: m.digest,
        size: m.size,
        mediaType: m.mediaType,
        upstream: this.deps.upstreamName,
      })
      try {
        await pipeline(Readable.from([m.body]), writer)
        await writer.commit()
      } finally {
        await writer.abort()
      }
      await this.remember(ctx, m)
      this.deps.cacheGrew()
    } catch (e) {
      ctx.log.warn({ err: e, digest: m.digest }, 'manifest served but not cached')
    }
  }

  private async remember(ctx: RequestContext, m: { digest: string; mediaType: string; size: number }): Promise<void> {
    const record = { ...m, upstream: this.deps.upstreamName, lastAccess: this.deps.now() }
    await this.deps.index.putBlob(record).catch((e: unknown) => {
      this.deps.telemetry.indexError('put_blob')
      ctx.log.warn({ err: e, digest: m.digest }, 'manifest not indexed')
    })
  }

  private async saveTag(ctx: RequestContext, key: TagKey, record: TagRecord): Promise<void> {
    await this.deps.index.putTag(key, record).catch((e: unknown) => {
      this.deps.telemetry.indexError('put_tag')
      ctx.log.warn({ err: e }, 'tag mapping not indexed')
    })
  }
}
