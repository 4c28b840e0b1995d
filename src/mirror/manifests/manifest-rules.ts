// What the manifest service decides about an upstream answer, apart from the service itself.
import { UpstreamContentError, UpstreamStatusError, UpstreamUnavailableError } from '../../errors.js'
import { tryParseDigest, type Digest } from '../../oci/digest.js'
import type { RequestContext } from '../request-context.js'
import { isFailingStatus } from '../upstream-errors.js'
import type { ManifestBody } from './manifest-body.js'

/**
 * Schema 1 manifests are served as the upstream sent them and kept nowhere, neither their
 * bytes nor a tag mapping to them. Their digest is not the digest of their bytes (see
 * oci/schema1.ts), and the blob store holds bytes only under the digest they hash to; and
 * a registry converting a manifest list for an old client signs each answer anew, so
 * there are no fixed bytes to keep. The clients that still ask for them are few.
 */
export function passedThrough(ctx: RequestContext, repo: string, m: ManifestBody): void {
  ctx.log.info({ repo, digest: m.digest, mediaType: m.mediaType }, 'schema 1 manifest passed through uncached')
}

/**
 * The upstream, or its token service, is failing or rate limiting (5xx, 429, no answer,
 * or an answer that is not what it should be): a known tag mapping still stands.
 */
export function isUpstreamFailure(e: unknown): boolean {
  if (e instanceof UpstreamUnavailableError || e instanceof UpstreamContentError) return true
  return e instanceof UpstreamStatusError && isFailingStatus(e.status)
}

export function parseKnownDigest(value: string): Digest {
  const digest = tryParseDigest(value)
  if (digest === undefined) throw new UpstreamContentError(`index holds an invalid digest ${value}`)
  return digest
}
