import { pipeline } from 'node:stream'
import { contentLengthOf, headerValue } from '../../http/body.js'
import { blobPath } from '../../oci/api-path.js'
import type { Digest } from '../../oci/digest.js'
import { parseContentRange } from '../../oci/range.js'
import type { UpstreamClient } from '../../upstream/upstream-client.js'
import type { BlobBody } from '../results.js'
import type { RequestContext } from '../request-context.js'
import { StreamSource, VerifyingPassThrough } from './stream-source.js'
import { statusError } from '../upstream-errors.js'

/**
 * A private repository's blob, streamed from the upstream with the client's credentials
 * and never stored. Range goes upstream as the client sent it; a whole body is verified
 * on the way, its last chunk held back until the digest matches.
 */
export async function passThroughBlob(
  upstream: UpstreamClient,
  ctx: RequestContext,
  repo: string,
  digest: Digest,
  rangeHeader: string | undefined,
  onBytes: (bytes: number) => void,
): Promise<BlobBody> {
  const response = await upstream.send({
    method: 'GET',
    path: blobPath(repo, digest.value),
    repo,
    headers: rangeHeader === undefined ? undefined : { range: rangeHeader },
    auth: { kind: 'client', credentials: ctx.credentials },
    signal: ctx.signal,
    trace: ctx.trace,
  })
  if (response.status === 206) {
    const partial = parseContentRange(headerValue(response.headers, 'content-range'))
    if (partial !== undefined) {
      const source = new StreamSource(response.body, partial.range.start, onBytes)
      return { size: partial.size, range: partial.range, source, outcome: 'bypass', private: true }
    }
  }
  if (response.status !== 200) throw await statusError(response)
  const size = contentLengthOf(response.headers)
  const verified = new VerifyingPassThrough(digest, size)
  pipeline(response.body, verified, () => {})
  return { size, range: undefined, source: new StreamSource(verified, 0, onBytes), outcome: 'bypass', private: true }
}
