import type { TagRecord } from '../../cache/cache-index.js'
import { UpstreamContentError } from '../../errors.js'
import { contentLengthOf, headerValue, readLimited } from '../../http/body.js'
import { digestOf, tryParseDigest, type Digest } from '../../oci/digest.js'
import { baseMediaType } from '../../oci/media-types.js'
import type { UpstreamResponse } from '../../upstream/upstream-client.js'
import { statusError } from '../upstream-errors.js'

/** Registries refuse manifests over 4 MiB; a bigger answer is not a manifest. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

export interface ManifestBody {
  digest: string
  mediaType: string
  size: number
  body: Buffer
}

/**
 * Reads a 200 manifest answer and checks it: the bytes must hash to the digest asked for,
 * or to the one the upstream announced in Docker-Content-Digest. Any other status is
 * thrown to be relayed.
 */
export async function readVerifiedManifest(
  response: UpstreamResponse,
  expected: Digest | undefined,
): Promise<ManifestBody> {
  if (response.status !== 200) throw await statusError(response)
  const announced = contentLengthOf(response.headers)
  if (announced !== undefined && announced > MAX_MANIFEST_BYTES) {
    await response.body.dump()
    throw new UpstreamContentError(`manifest of ${announced} bytes is over the ${MAX_MANIFEST_BYTES} limit`)
  }
  const body = await readLimited(response.body, MAX_MANIFEST_BYTES)
  const headerDigest = tryParseDigest(headerValue(response.headers, 'docker-content-digest'))
  const want = expected ?? headerDigest
  const actual = digestOf(want?.algorithm ?? 'sha256', body)
  if (want !== undefined && actual !== want.value) {
    throw new UpstreamContentError(`manifest hashes to ${actual}, expected ${want.value}`)
  }
  return { digest: actual, mediaType: mediaTypeOf(response, body), size: body.length, body }
}

/** A tag mapping from a HEAD answer, when it carries everything a client's HEAD needs. */
export function headRecord(response: UpstreamResponse, now: number): TagRecord | undefined {
  const digest = tryParseDigest(headerValue(response.headers, 'docker-content-digest'))
  const size = contentLengthOf(response.headers)
  const mediaType = baseMediaType(headerValue(response.headers, 'content-type'))
  if (digest === undefined || size === undefined || size === 0 || mediaType === undefined) return undefined
  // A generic type says nothing of what the manifest is: a GET reads it from the body.
  if (mediaType === 'application/json' || mediaType === 'text/plain') return undefined
  return { digest: digest.value, size, mediaType, checkedAt: now }
}

function mediaTypeOf(response: UpstreamResponse, body: Buffer): string {
  const header = baseMediaType(headerValue(response.headers, 'content-type'))
  if (header !== undefined && header !== 'application/json' && header !== 'text/plain') return header
  try {
    const declared = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType
    if (typeof declared === 'string') return declared
  } catch {
    // Not JSON: keep what the header said.
  }
  return header ?? 'application/octet-stream'
}
