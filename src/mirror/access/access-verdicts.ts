import type { Index } from '../../cache/cache-index.js'
import { UpstreamOfflineError, UpstreamStatusError, pickRelayedHeaders } from '../../errors.js'
import { discard } from '../../http/body.js'
import { blobPath, manifestPath, tagListPath } from '../../oci/api-path.js'
import { ACCEPT_ALL_MANIFESTS } from '../../oci/media-types.js'
import type { UpstreamAuth, UpstreamClient } from '../../upstream/upstream-client.js'
import type { RequestContext } from '../request-context.js'
import { SingleFlight } from '../single-flight.js'
import type { Telemetry } from '../telemetry.js'
import { isFailingStatus } from '../upstream-errors.js'

export type Access = 'public' | 'private'

/**
 * A repository's access as far as it can be known now: a verdict, or none when the
 * upstream could not be asked and no verdict is known (`cause` says why). Without one,
 * only what the cache holds may be served: it is public by construction (private content
 * is never stored), so serving it leaks nothing, and nothing goes upstream as the mirror.
 */
export type Decision = { access: Access } | { access: 'unverified'; cause: Error }

/** What the request is about: the anonymous check asks the upstream for exactly that. */
export type Probe = { kind: 'manifest'; reference: string } | { kind: 'blob'; digest: string } | { kind: 'tags' }

export interface AccessVerdictsDeps {
  upstream: UpstreamClient
  index: Index
  /** The upstream's name: verdicts are kept under it. */
  upstreamName: string
  ttlMs: number
  telemetry: Telemetry
  now: () => number
}

/**
 * Decides whether a repository is public: whether an anonymous client may pull it
 * upstream. The mirror asks as nobody (an anonymous token for the pull scope) and
 * never on a client's say-so; 200 means public; 401, 403 and 404 mean private or
 * absent (Docker Hub does not tell them apart), whether the registry or its token
 * service says them. Verdicts are kept for a while, negative
 * ones too. When the upstream cannot be asked, the last verdict stands, whatever its
 * age; with none, the decision is `unverified` (see Decision).
 */
export class AccessVerdicts {
  private readonly flights = new SingleFlight<Access>()

  constructor(private readonly deps: AccessVerdictsDeps) {}

  async decide(ctx: RequestContext, repo: string, probe: Probe): Promise<Decision> {
    const { index, upstreamName, ttlMs, now } = this.deps
    const known = await index.getVerdict(upstreamName, repo).catch((e: unknown) => {
      this.deps.telemetry.indexError('get_verdict')
      ctx.log.warn({ err: e }, 'index unavailable for verdict lookup')
      return undefined
    })
    if (known !== undefined && now() - known.checkedAt < ttlMs) return { access: known.isPublic ? 'public' : 'private' }
    try {
      return { access: (await this.flights.run(repo, () => this.ask(repo, probe))).value }
    } catch (e) {
      // Offline is the normal state of an offline upstream, not news for every request.
      const level = e instanceof UpstreamOfflineError ? 'debug' : 'warn'
      if (known === undefined) {
        ctx.log[level]({ err: e, repo }, 'repository access unknown; only cached content is served')
        return { access: 'unverified', cause: e instanceof Error ? e : new Error(String(e)) }
      }
      ctx.log[level]({ err: e, repo }, 'repository access not re-checked; last verdict stands')
      return { access: known.isPublic ? 'public' : 'private' }
    }
  }

  /**
   * The access decide() would find this instant without waiting or asking: a verdict the
   * index holds in memory and still within its TTL; undefined otherwise.
   */
  peek(repo: string): Access | undefined {
    const { index, upstreamName, ttlMs, now } = this.deps
    const known = index.peekVerdict?.(upstreamName, repo)
    if (known === undefined || now() - known.checkedAt >= ttlMs) return undefined
    return known.isPublic ? 'public' : 'private'
  }

  /** A verdict for what the cache never holds (tag lists, referrers): without one, why there is none. */
  async check(ctx: RequestContext, repo: string, probe: Probe): Promise<Access> {
    const decision = await this.decide(ctx, repo, probe)
    if (decision.access === 'unverified') throw decision.cause
    return decision.access
  }

  private async ask(repo: string, probe: Probe): Promise<Access> {
    let status = await this.anonymousStatus(repo, probe)
    // 404 for one manifest or blob says nothing about the repository: ask about it instead.
    if (status === 404 && probe.kind !== 'tags') status = await this.anonymousStatus(repo, { kind: 'tags' })
    let access: Access
    if (status === 200) access = 'public'
    else if (status === 401 || status === 403 || status === 404) access = 'private'
    else throw new UpstreamStatusError(status, {}, Buffer.alloc(0))
    await this.deps.index
      .putVerdict(this.deps.upstreamName, repo, { isPublic: access === 'public', checkedAt: this.deps.now() })
      .catch(() => this.deps.telemetry.indexError('put_verdict'))
    return access
  }

  private async anonymousStatus(repo: string, probe: Probe): Promise<number> {
    const path =
      probe.kind === 'manifest'
        ? manifestPath(repo, probe.reference)
        : probe.kind === 'blob'
          ? blobPath(repo, probe.digest)
          : tagListPath(repo)
    let response
    try {
      response = await this.deps.upstream.send({
        method: probe.kind === 'tags' ? 'GET' : 'HEAD',
        path,
        query: probe.kind === 'tags' ? { n: '1' } : undefined,
        repo,
        accept: probe.kind === 'manifest' ? ACCEPT_ALL_MANIFESTS : undefined,
        auth: { kind: 'anonymous' },
      })
    } catch (e) {
      // Only the token service answers with a status here: one that refuses an anonymous
      // token (some do, where Docker Hub grants an empty one) has said "not public".
      if (e instanceof UpstreamStatusError && (e.status === 401 || e.status === 403)) return e.status
      throw e
    }
    await discard(response.body)
    if (isFailingStatus(response.status)) {
      throw new UpstreamStatusError(response.status, pickRelayedHeaders(response.headers), Buffer.alloc(0))
    }
    return response.status
  }
}

/** Public content is fetched as the mirror, private content as the client, nothing else. */
export function upstreamAuthFor(access: Access, ctx: RequestContext): UpstreamAuth {
  return access === 'public' ? { kind: 'mirror' } : { kind: 'client', credentials: ctx.credentials }
}
