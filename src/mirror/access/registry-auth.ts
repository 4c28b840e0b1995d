import type { Dispatcher } from 'undici'
import { formCarriesCredentials, issueMirrorLocalToken, type ClientCredentials } from '../../auth/client-credentials.js'
import { relayTokenRequest, type TokenAnswer, type TokenRequest } from '../../auth/token-relay.js'
import { rewriteTokenRequest } from '../../auth/token-scope.js'
import { formatChallenges, rewriteBearerRealm } from '../../auth/www-authenticate.js'
import { MirrorError, UpstreamUnavailableError } from '../../errors.js'
import type { UpstreamObserver } from '../../http/upstream-observer.js'
import type { UpstreamClient } from '../../upstream/upstream-client.js'

/** Lifetime of a mirror-local token, as Docker Hub's tokens live. */
const LOCAL_TOKEN_LIFETIME_S = 300

export interface RegistryAuthDeps {
  upstream: Pick<UpstreamClient, 'authScheme' | 'offline'>
  dispatcher: Dispatcher
  /** `mirror`: challenges name the mirror's token endpoint; `upstream`: the upstream's realm. */
  realmMode: 'mirror' | 'upstream'
  timeoutMs: number
  userAgent: string
  observer: UpstreamObserver
}

/**
 * The client-facing side of Docker's token flow: the challenge a client gets on `/v2/`
 * and on relayed 401s, and the mirror's token endpoint that forwards to the real realm.
 */
export class RegistryAuth {
  constructor(private readonly deps: RegistryAuthDeps) {}

  /**
   * The challenge for a client's `/v2/` ping, or undefined for a 200. A client that sends
   * no credentials to a mirror answering 200 never sends any (Docker), so when the
   * upstream uses token auth the ping answers 401 with a realm the client can reach. An
   * offline upstream issues no tokens and the mirror checks none: 200, no challenge.
   */
  async pingChallenge(credentials: ClientCredentials, mirrorRealm: string): Promise<string | undefined> {
    if (credentials.kind === 'forward' || this.deps.upstream.offline) return undefined
    const scheme = await this.deps.upstream.authScheme()
    switch (scheme.kind) {
      case 'none':
        return undefined
      case 'basic':
        return scheme.challenge
      case 'bearer': {
        const realm = this.deps.realmMode === 'upstream' ? scheme.realm : mirrorRealm
        const params: Record<string, string> = { realm }
        if (scheme.service !== undefined) params.service = scheme.service
        return formatChallenges([{ scheme: 'bearer', params }])
      }
      case 'unreachable':
        // Offline: the mirror's endpoint hands out local tokens, and cached content flows.
        return formatChallenges([{ scheme: 'bearer', params: { realm: mirrorRealm } }])
    }
  }

  /** An upstream challenge as the client should see it. */
  relayChallenge(header: string | string[], mirrorRealm: string): string {
    if (this.deps.realmMode === 'upstream') return Array.isArray(header) ? header.join(', ') : header
    return rewriteBearerRealm(header, mirrorRealm)
  }

  /**
   * Answers a client's token request: the real realm's answer, unchanged. The scopes
   * name repositories as the client does (`ghcr.io/org/app`, `alpine`) and go to the realm
   * as `rename` names them there, with the upstream's own `service`. When the realm
   * cannot be reached, an anonymous client gets a mirror-local token (the mirror never
   * forwards it upstream) so cached public content keeps flowing; a client with
   * credentials gets a clear 503 rather than a token that would pretend they were checked.
   * An upstream without token auth has no realm: a client another upstream's challenge
   * (the ping's) sent here gets a mirror-local token, and its requests go on as
   * anonymous. Offline, every client gets one, credentials or not: nothing is checked and
   * nothing goes upstream, and what it opens is the cache, as for anyone.
   */
  async token(request: TokenRequest, rename: (name: string) => string = (name) => name): Promise<TokenAnswer> {
    if (this.deps.upstream.offline) return localToken()
    const scheme = await this.deps.upstream.authScheme()
    if (scheme.kind === 'none' || scheme.kind === 'basic') return localToken()
    const hasCredentials = request.authorization !== undefined || formCarriesCredentials(request.body)
    if (scheme.kind === 'bearer') {
      try {
        const { timeoutMs, userAgent, observer } = this.deps
        const relayed = rewriteTokenRequest(request, rename, scheme.service)
        return await relayTokenRequest(this.deps.dispatcher, scheme.realm, relayed, { timeoutMs, userAgent, observer })
      } catch (e) {
        if (!(e instanceof UpstreamUnavailableError) || hasCredentials) throw realmUnavailable(e)
      }
    } else if (hasCredentials) {
      throw realmUnavailable(new Error('upstream unreachable'))
    }
    return localToken()
  }
}

function realmUnavailable(cause: unknown): MirrorError {
  return new MirrorError('UNAVAILABLE', 503, "the upstream's token service cannot be reached", { cause })
}

function localToken(): TokenAnswer {
  const token = issueMirrorLocalToken()
  const body = { token, access_token: token, expires_in: LOCAL_TOKEN_LIFETIME_S, issued_at: new Date().toISOString() }
  return { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) }
}
