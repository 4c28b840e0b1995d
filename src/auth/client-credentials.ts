import { randomBytes } from 'node:crypto'
import { SEALED_PREFIX } from './token-seal.js'

/**
 * What a client presented. `forward`: credentials for the upstream (a Bearer token from
 * its realm, or Basic credentials), sent on for this client's requests only and never
 * stored. A mirror-local token proves nothing and counts as anonymous.
 */
export type ClientCredentials = { kind: 'anonymous' } | { kind: 'forward'; authorization: string }

/**
 * Opens a sealed token (see TokenSeal) for the upstream a request is routed to: the Basic
 * authorization it carries, or undefined when it does not open for that upstream.
 */
export type Unseal = (token: string) => string | undefined

/** Tokens the mirror issues itself while the upstream's realm is unreachable. */
const MIRROR_LOCAL_PREFIX = 'registry-mirror-local.'

export function issueMirrorLocalToken(): string {
  return MIRROR_LOCAL_PREFIX + randomBytes(18).toString('base64url')
}

/** Without an upstream to open them for, sealed tokens open for none. */
const sealedForNone: Unseal = () => undefined

/**
 * How a client's Authorization header goes upstream. The mirror's own tokens never go as
 * they are: a mirror-local one is anonymous, and a sealed one becomes the Basic
 * credentials it holds when `unseal` opens it for the routed upstream, else anonymous.
 */
export function classifyAuthorization(header: string | undefined, unseal: Unseal = sealedForNone): ClientCredentials {
  if (header === undefined || header.trim() === '') return { kind: 'anonymous' }
  const [scheme = '', credential = ''] = header.trim().split(/\s+/, 2)
  if (scheme.toLowerCase() === 'bearer') {
    if (credential.startsWith(MIRROR_LOCAL_PREFIX)) return { kind: 'anonymous' }
    if (credential.startsWith(SEALED_PREFIX)) {
      const opened = unseal(credential)
      return opened === undefined ? { kind: 'anonymous' } : { kind: 'forward', authorization: opened }
    }
  }
  return { kind: 'forward', authorization: header }
}

/**
 * Whether an OAuth2 token form (containerd's POST) carries credentials: a password grant
 * or a refresh token. Such a request must not be answered with a mirror-local token.
 */
export function formCarriesCredentials(body: Buffer | undefined): boolean {
  if (body === undefined || body.length === 0) return false
  const form = new URLSearchParams(body.toString('utf8'))
  return form.get('grant_type') === 'password' || form.has('refresh_token') || form.has('password')
}

/**
 * The credentials of a token request, as Basic auth takes them: its `Authorization: Basic`
 * header, or the username and password of an OAuth2 password form. `other`: credentials
 * of another kind (a refresh token, a Bearer token) that no Basic registry can check.
 */
export type TokenRequestCredentials = { kind: 'none' } | { kind: 'basic'; authorization: string } | { kind: 'other' }

export function tokenRequestCredentials(
  authorization: string | undefined,
  body: Buffer | undefined,
): TokenRequestCredentials {
  if (authorization !== undefined && authorization.trim() !== '') {
    const [scheme = '', credential = ''] = authorization.trim().split(/\s+/, 2)
    return scheme.toLowerCase() === 'basic' && credential !== ''
      ? { kind: 'basic', authorization: `Basic ${credential}` }
      : { kind: 'other' }
  }
  if (!formCarriesCredentials(body) || body === undefined) return { kind: 'none' }
  const form = new URLSearchParams(body.toString('utf8'))
  const username = form.get('username')
  const password = form.get('password')
  if (username === null || password === null || username === '') return { kind: 'other' }
  return { kind: 'basic', authorization: basicAuthorization(username, password) }
}

/** `Basic …` for a username and password. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
}
