import { createHash, type Hash } from 'node:crypto'
import { errors } from '../errors.js'

export type DigestAlgorithm = 'sha256' | 'sha512'

export interface Digest {
  readonly algorithm: DigestAlgorithm
  readonly hex: string
  /** The canonical `algorithm:hex` form. */
  readonly value: string
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 }
// The spec's general digest grammar; anything matching it but not registered is unsupported.
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

function isAlgorithm(value: string): value is DigestAlgorithm {
  return value === 'sha256' || value === 'sha512'
}

/**
 * What a digest's hex part looks like for an algorithm, or undefined for an algorithm we
 * do not support: for checking many names at once (a directory of the cache) with one
 * test each.
 */
export function hexPattern(algorithm: string): RegExp | undefined {
  return isAlgorithm(algorithm) ? new RegExp(`^[a-f0-9]{${HEX_LENGTH[algorithm]}}$`) : undefined
}

export function parseDigest(value: string): Digest {
  if (!DIGEST.test(value)) throw errors.digestInvalid(value)
  const colon = value.indexOf(':')
  const algorithm = value.slice(0, colon)
  const hex = value.slice(colon + 1)
  if (!isAlgorithm(algorithm)) throw errors.digestInvalid(value, 'unsupported digest algorithm')
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw errors.digestInvalid(value)
  }
  return { algorithm, hex, value }
}

/** The digest, or undefined when the string is not a valid supported digest. */
export function tryParseDigest(value: string | undefined): Digest | undefined {
  if (value === undefined) return undefined
  try {
    return parseDigest(value)
  } catch {
    return undefined
  }
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm)
}

export function digestOf(algorithm: DigestAlgorithm, data: Buffer): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}
