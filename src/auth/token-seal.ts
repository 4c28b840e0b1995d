import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { z } from 'zod'

/** What a sealed token starts with: the mirror's own, never sent to any upstream as it is. */
export const SEALED_PREFIX = 'registry-mirror-sealed.'

const KEY_BYTES = 32
/** GCM's standard nonce; random per token, so one key seals many tokens safely. */
const IV_BYTES = 12
const TAG_BYTES = 16
/** Fixed HKDF inputs: the key is a function of the secret alone, the same on every replica. */
const HKDF_SALT = 'registry-mirror'
const HKDF_INFO = 'sealed client credentials v1'

const sealedSchema = z.object({ authorization: z.string().min(1), expires: z.number() })

/**
 * Client credentials for a Basic-auth upstream, sealed into a Bearer token the client
 * carries instead (AES-256-GCM). Clients that follow a Bearer challenge, as Docker and
 * skopeo do after the ping, then still reach the upstream with their own credentials,
 * which the mirror never stores: the token holds them, encrypted and authenticated under
 * a key only the mirror has. The upstream's name is the authenticated data, so a token
 * opens only for the upstream it was minted for.
 */
export class TokenSeal {
  /** `now`: the wall clock in milliseconds; replicas share tokens, so not a monotonic one. */
  private constructor(
    private readonly key: Buffer,
    private readonly now: () => number,
  ) {}

  /**
   * A seal keyed by `secret` (replicas given one secret read each other's tokens), or by
   * random bytes: then tokens live as long as the process does, at most their lifetime.
   */
  static fromSecret(secret: string | undefined, now: () => number = Date.now): TokenSeal {
    const key =
      secret === undefined
        ? randomBytes(KEY_BYTES)
        : Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, HKDF_INFO, KEY_BYTES))
    return new TokenSeal(key, now)
  }

  seal(upstream: string, authorization: string, lifetimeMs: number): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(Buffer.from(upstream, 'utf8'))
    const plain = JSON.stringify({ authorization, expires: this.now() + lifetimeMs })
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return SEALED_PREFIX + Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')
  }

  /**
   * The authorization a token seals for `upstream`; undefined for a token that is not
   * one of this key's, was minted for another upstream, was altered, or has expired.
   */
  open(token: string, upstream: string): string | undefined {
    if (!token.startsWith(SEALED_PREFIX)) return undefined
    const encoded = token.slice(SEALED_PREFIX.length)
    const bytes = Buffer.from(encoded, 'base64url')
    // Node's decoder skips what is not base64: only the exact text the seal wrote opens.
    if (bytes.length <= IV_BYTES + TAG_BYTES || bytes.toString('base64url') !== encoded) return undefined
    let plain: string
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      })
      decipher.setAAD(Buffer.from(upstream, 'utf8'))
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, -TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      return undefined
    }
    const parsed = sealedSchema.safeParse(parseJson(plain))
    if (!parsed.success || parsed.data.expires <= this.now()) return undefined
    return parsed.data.authorization
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
