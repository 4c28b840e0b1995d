import type { TagRecord } from '../../cache/cache-index.js'
import { UpstreamContentError } from '../../errors.js'
import { contentLengthOf, headerValue, readLimited } from '../../http/body.js'
import { z } from 'zod'
import { digestOf, tryParseDigest, type Digest, type DigestAlgorithm } from '../../oci/digest.js'
import { baseMediaType, mediaTypes } from '../../oci/media-types.js'
import { schema1Payload } from '../../oci/schema1.js'
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
 * Reads a 200 manifest answer and checks it: the manifest must hash to the digest asked
 * for, or to the one the upstream announced in Docker-Content-Digest. Any other status is
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
  const mediaType = mediaTypeOf(response, body)
  const actual = manifestDigest(want?.algorithm ?? 'sha256', mediaType, body)
  if (want !== undefined && actual !== want.value) {
    throw new UpstreamContentError(`manifest hashes to ${actual}, expected ${want.value}`)
  }
  return { digest: actual, mediaType, size: body.length, body }
}

/** A manifest's digest: of its bytes, but of its signed payload for signed schema 1. */
function manifestDigest(algorithm: DigestAlgorithm, mediaType: string, body: Buffer): string {
  return digestOf(algorithm, mediaType === mediaTypes.dockerSchema1Signed ? schema1Payload(body) : body)
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

/** Types that do not say which manifest this is: the body does. */
const UNSPECIFIC = new Set(['application/json', 'text/plain', mediaTypes.dockerSchema1])

const declaredSchema = z.object({
  mediaType: z.string().optional().catch(undefined),
  schemaVersion: z.unknown(),
  signatures: z.unknown(),
})

function mediaTypeOf(response: UpstreamResponse, body: Buffer): string {
  const header = baseMediaType(headerValue(response.headers, 'content-type'))
  if (header !== undefined && !UNSPECIFIC.has(header)) return header
  return declaredType(body) ?? header ?? 'application/octet-stream'
}

/**
 * What a manifest says it is: its `mediaType`; schema 1 has none, and is signed when it
 * carries signatures (registries, Distribution among them, serve it as plain JSON too).
 */
function declaredType(body: Buffer): string | undefined {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
  const declared = declaredSchema.safeParse(json)
  if (!declared.success) return undefined
  const { mediaType, schemaVersion, signatures } = declared.data
  if (mediaType !== undefined || schemaVersion !== 1) return mediaType
  return signatures === undefined ? mediaTypes.dockerSchema1 : mediaTypes.dockerSchema1Signed
}
