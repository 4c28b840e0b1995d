import type { ByteRange } from '../oci/range.js'
import type { ByteSource } from './byte-source.js'
import type { CacheOutcome } from './request-context.js'

/** What the HTTP layer gets back from the mirror, apart from errors. */

export interface ManifestResult {
  digest: string
  mediaType: string
  size: number
  /** Present when the caller asked for the body. */
  body?: Buffer
  outcome: CacheOutcome
  /** From a private repository: no shared cache may keep it. */
  private: boolean
}

export interface BlobBody {
  /** Size of the whole blob; undefined only when the upstream announced none. */
  size: number | undefined
  /** Set for a 206 answer. */
  range: ByteRange | undefined
  /** The bytes to send; the caller closes it. */
  source: ByteSource
  outcome: CacheOutcome
  /** From a private repository: no shared cache may keep it. */
  private: boolean
}

export interface BlobHead {
  size: number
  outcome: CacheOutcome
  private: boolean
}
