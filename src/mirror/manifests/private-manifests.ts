import { manifestPath } from '../../oci/api-path.js'
import { referenceText, type Reference } from '../../oci/reference.js'
import type { UpstreamClient } from '../../upstream/upstream-client.js'
import { headRecord, readVerifiedManifest } from './manifest-body.js'
import type { ManifestResult } from '../results.js'
import type { RequestContext } from '../request-context.js'

/**
 * A private repository's manifest, asked of the upstream with the client's own
 * credentials every time and kept nowhere: not on disk, not in the index, not in memory.
 */
export async function passThroughManifest(
  upstream: UpstreamClient,
  ctx: RequestContext,
  repo: string,
  reference: Reference,
  accept: string | string[] | undefined,
  wantBody: boolean,
): Promise<ManifestResult> {
  const path = manifestPath(repo, referenceText(reference))
  const request = {
    path,
    repo,
    accept: Array.isArray(accept) ? accept.join(', ') : accept,
    auth: { kind: 'client' as const, credentials: ctx.credentials },
    signal: ctx.signal,
    trace: ctx.trace,
  }
  if (!wantBody) {
    const head = await upstream.send({ ...request, method: 'HEAD' })
    const record = head.status === 200 ? headRecord(head, 0) : undefined
    if (record !== undefined) {
      await head.body.dump()
      return { digest: record.digest, mediaType: record.mediaType, size: record.size, outcome: 'bypass', private: true }
    }
    // A HEAD answer without digest and length (or an error): the GET below settles it.
    await head.body.dump()
  }
  const response = await upstream.send({ ...request, method: 'GET' })
  const manifest = await readVerifiedManifest(response, reference.kind === 'digest' ? reference.digest : undefined)
  return { ...manifest, body: wantBody ? manifest.body : undefined, outcome: 'bypass', private: true }
}
