import { UpstreamUnavailableError } from '../../errors.js'
import { contentLengthOf } from '../../http/body.js'
import { blobPath } from '../../oci/api-path.js'
import type { Digest } from '../../oci/digest.js'
import type { UpstreamAuth, UpstreamClient } from '../../upstream/upstream-client.js'
import type { AccessVerdicts } from '../access/access-verdicts.js'
import { passThroughBlob } from './private-blobs.js'
import type { RequestContext } from '../request-context.js'
import type { BlobBody, BlobHead } from '../results.js'
import type { Telemetry } from '../telemetry.js'
import { statusError } from '../upstream-errors.js'
import type { BlobCache } from './blob-cache.js'

export interface BlobServiceDeps {
  /** The upstream's name, recorded with each blob it brings. */
  name: string
  upstream: UpstreamClient
  /** The blobs every upstream shares. */
  cache: BlobCache
  verdicts: AccessVerdicts
  telemetry: Telemetry
}

const MIRROR: UpstreamAuth = { kind: 'mirror' }

/**
 * One upstream's blobs. Public repositories' blobs come from the shared cache, which
 * fetches them once through this upstream when no upstream has brought them yet: a
 * digest is the same bytes whichever registry sent them. Blobs of private repositories
 * are never stored: see private-blobs.ts.
 */
export class BlobService {
  constructor(private readonly deps: BlobServiceDeps) {}

  async get(ctx: RequestContext, repo: string, digest: Digest, rangeHeader: string | undefined): Promise<BlobBody> {
    const decision = await this.deps.verdicts.decide(ctx, repo, { kind: 'blob', digest: digest.value })
    if (decision.access === 'private') return this.privateGet(ctx, repo, digest, rangeHeader)
    if (decision.access === 'unverified') {
      // Nobody can say whether the repository is public: only what the cache holds, stale.
      const local = await this.deps.cache.local(digest.value, rangeHeader)
      if (local === undefined) throw decision.cause
      return { ...local, outcome: 'stale' }
    }
    const { name, upstream, telemetry } = this.deps
    return this.deps.cache.get(ctx, { upstream: name, client: upstream, telemetry, repo }, digest.value, rangeHeader)
  }

  /**
   * Whether this repository has the blob is the upstream's to say (a client about to push
   * asks exactly that), so a HEAD goes upstream; for a public repository the cache
   * answers when the upstream cannot be reached.
   */
  async head(ctx: RequestContext, repo: string, digest: Digest): Promise<BlobHead> {
    const decision = await this.deps.verdicts.decide(ctx, repo, { kind: 'blob', digest: digest.value })
    if (decision.access === 'unverified') return this.localHead(digest, decision.cause)
    const isPrivate = decision.access === 'private'
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
    const { cache, upstream, telemetry } = this.deps
    if (await cache.holds(digest.value)) {
      const path = blobPath(repo, digest.value)
      const confirm = await upstream.send({ method: 'HEAD', path, repo, auth, trace: ctx.trace })
      if (confirm.status !== 200) throw await statusError(confirm)
      await confirm.body.dump()
      const local = await cache.local(digest.value, rangeHeader)
      if (local !== undefined) {
        const bytes = local.range === undefined ? (local.size ?? 0) : local.range.end - local.range.start + 1
        telemetry.privateCacheBytes(bytes)
        ctx.log.debug({ digest: digest.value, bytes }, 'private request served from the public cache')
        return { ...local, outcome: 'hit', private: true }
      }
    }
    return passThroughBlob(upstream, ctx, repo, digest, rangeHeader, (n) => telemetry.upstreamBytes('blob', n))
  }

  private async localHead(digest: Digest, upstreamError: Error): Promise<BlobHead> {
    const size = await this.deps.cache.sizeOf(digest.value)
    if (size === undefined) throw upstreamError
    return { size, outcome: 'stale', private: false }
  }
}
