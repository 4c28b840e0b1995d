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

/** `Basic …` for a username and password. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
}
