import type { BlobStore } from '../cache/blob-store.js'
import type { Logger } from '../logger.js'
import { parseDigest } from '../oci/digest.js'
import type { ImageRef } from '../oci/image-ref.js'
import { ACCEPT_ALL_MANIFESTS } from '../oci/media-types.js'
import type { Reference } from '../oci/reference.js'
import type { Mirror } from '../mirror/mirror.js'
import type { UpstreamMirror } from '../mirror/upstream-mirror.js'
import type { RequestContext } from '../mirror/request-context.js'

/** A manifest as the mirror served it to the prefetch. */
export interface FetchedManifest {
  digest: string
  mediaType: string
  size: number
  body: Buffer
  /** The upstream refuses anonymous clients: the mirror keeps nothing of it. */
  private: boolean
  /** Whether the bytes came from the upstream (else from the cache). */
  fetched: boolean
}

/**
 * What a prefetch asks of the mirror: a manifest, and a blob read to its end. It goes
 * through the same use cases as a pull — the verified fill, single flight, metrics —
 * and this is the one place that knows how they are called.
 */
export interface PrefetchSource {
  manifest(image: ImageRef, reference: Reference, log: Logger): Promise<FetchedManifest>
  /** Fetches a blob into the cache, telling of its bytes as they arrive; resolves once it is verified. */
  blob(image: ImageRef, digest: string, log: Logger, onBytes: (n: number) => void): Promise<void>
}

/** Bytes are read from a fill this much at a time. */
const READ_BYTES = 1024 * 1024

function context(log: Logger, signal: AbortSignal): RequestContext {
  // As nobody: the mirror caches public content only, and fetches it as itself.
  return { log, signal, credentials: { kind: 'anonymous' }, trace: {} }
}

/** The upstream's own mirror, as a pull of this name would be routed; its allow and deny lists apply. */
function upstreamOf(mirror: Mirror, image: ImageRef): { upstream: UpstreamMirror; repo: string } {
  const upstream = mirror.upstream(image.upstream.name)
  if (upstream === undefined) throw new Error(`registry ${image.upstream.name} is not served by this mirror`)
  return { upstream, repo: upstream.repository(image.repo) }
}

export function mirrorSource(mirror: Mirror, store: BlobStore, signal: AbortSignal): PrefetchSource {
  return {
    manifest: async (image, reference, log) => {
      const { upstream, repo } = upstreamOf(mirror, image)
      const result = await upstream.manifests.get(context(log, signal), repo, reference, ACCEPT_ALL_MANIFESTS, true)
      return {
        digest: result.digest,
        mediaType: result.mediaType,
        size: result.size,
        body: result.body ?? Buffer.alloc(0),
        private: result.private,
        fetched: result.outcome === 'miss',
      }
    },
    blob: async (image, digest, log, onBytes) => {
      const { upstream, repo } = upstreamOf(mirror, image)
      const body = await upstream.blobs.get(context(log, signal), repo, parseDigest(digest), undefined)
      try {
        for (let position = 0; ;) {
          const bytes = await body.source.read(position, READ_BYTES)
          const n = bytes.data.length
          bytes.release()
          if (n === 0) break
          position += n
          onBytes(n)
        }
        await body.source.complete()
      } finally {
        await body.source.close()
      }
      // Verified is not yet cached: the fill commits after its last byte is read.
      await mirror.blobs.filled(digest)
      if ((await store.stat(digest)) === undefined) throw new Error(`${digest} was fetched but could not be cached`)
    },
  }
}
