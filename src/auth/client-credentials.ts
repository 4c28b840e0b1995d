import { randomBytes } from 'node:crypto'

/**
 * What a client presented. `forward`: credentials for the upstream (a Bearer token from
 * its realm, or Basic credentials), sent on for this client's requests only and never
 * stored. A mirror-local token proves nothing and counts as anonymous.
 */
export type ClientCredentials = { kind: 'anonymous' } | { kind: 'forward'; authorization: string }

/** Tokens the mirror issues itself while the upstream's realm is unreachable. */
const MIRROR_LOCAL_PREFIX = 'registry-mirror-local.'

export function issueMirrorLocalToken(): string {
  return MIRROR_LOCAL_PREFIX + randomBytes(18).toString('base64url')
}

export function classifyAuthorization(header: string | undefined): ClientCredentials {
  if (header === undefined || header.trim() === '') return { kind: 'anonymous' }
  const [scheme = '', credential = ''] = header.trim().split(/\s+/, 2)
  if (scheme.toLowerCase() === 'bearer' && credential.startsWith(MIRROR_LOCAL_PREFIX)) return { kind: 'anonymous' }
  return { kind: 'forward', authorization: header }
}

/** The Authorization header to send upstream for a client: a mirror-local token never goes. */
export function forwardableAuthorization(header: string | undefined): string | undefined {
  const credentials = classifyAuthorization(header)
  return credentials.kind === 'forward' ? credentials.authorization : undefined
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

/** `Basic …` for a username and password. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
}
