import { z } from 'zod'
import { UpstreamContentError } from '../errors.js'

/**
 * Docker's signed schema 1 manifests (`…manifest.v1+prettyjws`) are JSON with a libtrust
 * JWS `signatures` array spliced in. What was signed, and what their digest names, is the
 * manifest without that array: the body's first `formatLength` bytes followed by
 * `formatTail`, both carried in each signature's protected header. Registries announce
 * that digest, never the digest of the bytes they send; a registry that converts a
 * manifest on the fly (Distribution, for clients that accept no manifest list) even signs
 * it anew for each answer, so the bytes differ every time while the digest stays.
 */

const signedSchema = z.object({
  signatures: z.array(z.object({ protected: z.string() })).min(1),
})

const protectedSchema = z.object({
  // libtrust reads the length as a JSON number and truncates it to an int.
  formatLength: z.number().nonnegative().transform(Math.trunc),
  formatTail: z.string(),
})

/** libtrust's base64url: unpadded, spaces and newlines ignored, nothing else tolerated. */
function base64UrlDecode(text: string): Buffer | undefined {
  const compact = text.replace(/[\n ]/g, '')
  if (!/^[A-Za-z0-9_-]*$/.test(compact) || compact.length % 4 === 1) return undefined
  return Buffer.from(compact, 'base64url')
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
}

function invalid(why: string): UpstreamContentError {
  return new UpstreamContentError(`schema 1 manifest: ${why}`)
}

/** The format every signature records; libtrust refuses signatures that disagree. */
function formatOf(signatures: ReadonlyArray<{ protected: string }>): { length: number; tail: Buffer } {
  let format: { length: number; tail: Buffer } | undefined
  for (const signature of signatures) {
    const header = base64UrlDecode(signature.protected)
    const parsed = protectedSchema.safeParse(header === undefined ? undefined : parseJson(header))
    if (!parsed.success) throw invalid('a signature has no valid protected header')
    const tail = base64UrlDecode(parsed.data.formatTail)
    if (tail === undefined) throw invalid('a signature has an invalid format tail')
    if (format !== undefined && (format.length !== parsed.data.formatLength || !format.tail.equals(tail))) {
      throw invalid('signatures disagree on the format')
    }
    format = { length: parsed.data.formatLength, tail }
  }
  if (format === undefined) throw invalid('no signatures')
  return format
}

/**
 * The signed payload of a schema 1 manifest: the bytes its digest is computed over.
 * Throws UpstreamContentError when the body is not a well-formed signed manifest.
 */
export function schema1Payload(body: Buffer): Buffer {
  const signed = signedSchema.safeParse(parseJson(body))
  if (!signed.success) throw invalid('no signatures')
  const { length, tail } = formatOf(signed.data.signatures)
  if (length > body.length) throw invalid('format length beyond the body')
  const payload = Buffer.concat([body.subarray(0, length), tail])
  const manifest = parseJson(payload)
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw invalid('the signed payload is not a JSON object')
  }
  return payload
}
