import type { Dispatcher } from 'undici'
import {
  classifyAuthorization,
  formCarriesCredentials,
  issueMirrorLocalToken,
  tokenRequestCredentials,
  type ClientCredentials,
} from '../../auth/client-credentials.js'
import { relayTokenRequest, type TokenAnswer, type TokenRequest } from '../../auth/token-relay.js'
import { rewriteTokenRequest } from '../../auth/token-scope.js'
import type { TokenSeal } from '../../auth/token-seal.js'
import { findBearer, formatChallenges, rewriteBearerRealm } from '../../auth/www-authenticate.js'
import { MirrorError, UpstreamUnavailableError } from '../../errors.js'
import type { UpstreamObserver } from '../../http/upstream-observer.js'
import type { UpstreamClient } from '../../upstream/upstream-client.js'

/** Lifetime of a mirror-local or sealed token, as Docker Hub's tokens live. */
const LOCAL_TOKEN_LIFETIME_S = 300
const CHECK_UNAVAILABLE = 'the upstream cannot be reached to check these credentials'

export interface RegistryAuthDeps {
  /** The upstream's name: a sealed token opens only for the upstream it names. */
  name: string
  upstream: Pick<UpstreamClient, 'authScheme' | 'offline' | 'send'>
  /** Seals a Basic upstream's client credentials into the tokens its clients carry. */
  seal: TokenSeal
  /** Other upstreams are served behind the same address: see pingChallenge. */
  beside: boolean
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
   * What a client's Authorization header is worth to this upstream: a sealed token opens
   * only here, as the Basic credentials it holds; see classifyAuthorization.
   */
  credentials(header: string | undefined): ClientCredentials {
    return classifyAuthorization(header, (token) => this.deps.seal.open(token, this.deps.name))
  }

  /**
   * The challenge for a client's `/v2/` ping, or undefined for a 200. A client that sends
   * no credentials to a mirror answering 200 never sends any (Docker), so when the
   * upstream uses token auth the ping answers 401 with a realm the client can reach. An
   * offline upstream issues no tokens and the mirror checks none: 200, no challenge.
   *
   * A ping names no repository, yet Docker and skopeo take the scheme it announces for
   * every upstream behind the mirror's address: Basic credentials sent everywhere would
   * fail at a token-auth upstream, and after a 200 they send none at all, so a private
   * image of another upstream could never be pulled. So when other upstreams are served
   * `beside` this one, a ping not `pinned` to it by `ns` announces the mirror's realm
   * instead of a Basic challenge or a 200; that endpoint serves every upstream (a Basic
   * one's credentials come back sealed, a no-auth one's clients get a mirror-local
   * token, see token).
   */
  async pingChallenge(
    credentials: ClientCredentials,
    mirrorRealm: string,
    pinned = false,
  ): Promise<string | undefined> {
    const own = await this.ownPingChallenge(credentials, mirrorRealm)
    const { beside, realmMode, upstream } = this.deps
    if (!beside || pinned || realmMode === 'upstream' || credentials.kind === 'forward' || upstream.offline) return own
    if (own !== undefined && findBearer(own) !== undefined) return own
    return formatChallenges([{ scheme: 'bearer', params: { realm: mirrorRealm } }])
  }

  private async ownPingChallenge(credentials: ClientCredentials, mirrorRealm: string): Promise<string | undefined> {
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
   * An upstream with Basic auth has no realm: see basicToken. One with no auth gets a
   * mirror-local token, and its requests go on as anonymous. Offline, every client gets
   * one, credentials or not: nothing is checked and nothing goes upstream, and what it
   * opens is the cache, as for anyone.
   */
  async token(request: TokenRequest, rename: (name: string) => string = (name) => name): Promise<TokenAnswer> {
    if (this.deps.upstream.offline) return localToken()
    const scheme = await this.deps.upstream.authScheme()
    if (scheme.kind === 'none') return localToken()
    if (scheme.kind === 'basic') return this.basicToken(request)
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

  /**
   * A token for a Basic-auth upstream, whose clients another upstream's challenge (the
   * ping's) sent here. An anonymous client gets a mirror-local token. A client's Basic
   * credentials (its header, or an OAuth2 password form) are first checked with the
   * upstream's `/v2/`, so a wrong password fails here as it would at the registry, then
   * come back sealed in the token, which opens for this upstream alone (see TokenSeal).
   */
  private async basicToken(request: TokenRequest): Promise<TokenAnswer> {
    const presented = tokenRequestCredentials(request.authorization, request.body)
    if (presented.kind === 'none') return localToken()
    if (presented.kind === 'other') throw unauthorized('this registry takes a username and password')
    await this.checkBasic(presented.authorization)
    const lifetimeMs = LOCAL_TOKEN_LIFETIME_S * 1000
    return tokenAnswer(this.deps.seal.seal(this.deps.name, presented.authorization, lifetimeMs))
  }

  private async checkBasic(authorization: string): Promise<void> {
    const credentials = { kind: 'forward' as const, authorization }
    let status: number
    try {
      const response = await this.deps.upstream.send({
        method: 'GET',
        path: '/v2/',
        repo: '',
        auth: { kind: 'client', credentials },
      })
      status = response.status
      await response.body.dump()
    } catch (e) {
      throw realmUnavailable(e, CHECK_UNAVAILABLE)
    }
    if (status === 401 || status === 403) throw unauthorized('the registry did not accept these credentials')
    if (status < 200 || status >= 300) throw realmUnavailable(new Error(`answered ${status}`), CHECK_UNAVAILABLE)
  }
}

function realmUnavailable(cause: unknown, message = "the upstream's token service cannot be reached"): MirrorError {
  return new MirrorError('UNAVAILABLE', 503, message, { cause })
}

function unauthorized(message: string): MirrorError {
  return new MirrorError('UNAUTHORIZED', 401, message)
}

function localToken(): TokenAnswer {
  return tokenAnswer(issueMirrorLocalToken())
}

function tokenAnswer(token: string): TokenAnswer {
  const body = { token, access_token: token, expires_in: LOCAL_TOKEN_LIFETIME_S, issued_at: new Date().toISOString() }
  return { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) }
}
