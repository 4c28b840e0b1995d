import type { BlobStore } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
import type { ImageUpstream } from '../oci/image-ref.js'
import type { BundleEntry } from './bundle-entries.js'
import { checkBundle, type CheckedImage, type Lookup } from './bundle-check.js'
import { receiveBundle, type ReceivedBundle } from './bundle-reader.js'
import { recordPublic, restoreTag } from './tag-facts.js'

export interface ImportDeps {
  store: BlobStore
  index: Index
  /** The first is the default: names without a registry belong to it. */
  upstreams: readonly ImageUpstream[]
  now: () => number
  /** Told once the import has grown the cache (it may need evicting). */
  cacheGrew: () => void
}

export interface ImportedImage {
  name?: string
  digest: string
  mediaType: string
  /** Platform manifests held whole after the import, of those the image lists. */
  held: number
  listed: number
  /** Tag mappings written (one per kind of client that accepts the manifest's type). */
  tagMappings: number
}

export interface ImportReport {
  images: ImportedImage[]
  added: { blobs: number; bytes: number }
  /** Carried by the bundle but already in the cache. */
  present: { blobs: number; bytes: number }
  /** Repositories the mirror knows to be private: their tags were restored, but not served to anonymous clients. */
  keptPrivate: string[]
}

function lookupIn(received: ReceivedBundle, store: BlobStore): Lookup {
  return async (digest) => {
    const carried = received.blobs.get(digest)
    if (carried !== undefined) return { size: carried.size, inBundle: true, read: () => carried.read() }
    const stored = await store.stat(digest)
    if (stored === undefined) return undefined
    return { size: stored.size, inBundle: false, read: async () => (await store.read(digest)) ?? Buffer.alloc(0) }
  }
}

/**
 * The facts of the imported images, written only once the bundle has checked out and
 * its blobs are in the store: blob records, then verdicts and tag mappings. Content of a
 * bundle is public by the operator's word (ours come from a mirror that caches public
 * content only), so a repository with no verdict is recorded public, as of when the
 * exporting mirror last checked (or the epoch, for a bundle of another tool): a connected
 * mirror re-checks it at the first pull, one without a connection keeps serving it. A
 * repository the mirror found private stays private. Tags are restored likewise, as of
 * when the exporting mirror last confirmed them: a mapping confirmed later is kept.
 */
async function recordFacts(deps: ImportDeps, received: ReceivedBundle, images: CheckedImage[]): Promise<ImportReport> {
  const report: ImportReport = {
    images: [],
    added: { blobs: 0, bytes: 0 },
    present: { blobs: 0, bytes: 0 },
    keptPrivate: [],
  }
  const origin = new Map<string, string>()
  for (const image of images) for (const d of image.digests) if (image.ref) origin.set(d, image.ref.upstream.name)
  const now = deps.now()
  for (const blob of received.blobs.values()) {
    if (blob.description === true) continue
    const tally = blob.present ? report.present : report.added
    tally.blobs++
    tally.bytes += blob.size
    if (blob.present) continue
    const upstream = origin.get(blob.digest) ?? deps.upstreams[0]?.name ?? ''
    await deps.index.putBlob({
      digest: blob.digest,
      size: blob.size,
      mediaType: blob.mediaType,
      upstream,
      lastAccess: now,
    })
  }
  for (const image of images) {
    let tagMappings = 0
    const { ref } = image
    if (ref !== undefined) {
      const isPublic = await recordPublic(deps.index, ref.upstream.name, ref.repo, image.facts?.verdictCheckedAt ?? 0)
      if (!isPublic) report.keptPrivate.push(`${ref.upstream.name}/${ref.repo}`)
      if (ref.tag !== undefined && ref.digest === undefined) {
        const record = {
          digest: image.digest,
          mediaType: image.mediaType,
          size: image.size,
          checkedAt: image.facts?.tagCheckedAt ?? 0,
        }
        tagMappings = await restoreTag(
          deps.index,
          { upstream: ref.upstream.name, repo: ref.repo, tag: ref.tag },
          record,
        )
      }
    }
    const { name, digest, mediaType, held, listed } = image
    report.images.push({ ...(name === undefined ? {} : { name }), digest, mediaType, held, listed, tagMappings })
  }
  return report
}

/**
 * `registry-mirror import`, all or nothing: the bundle is read whole, every blob verified
 * on the way into the store's temp files, every reference checked; only then are the
 * blobs committed and the index facts written. A bundle refused leaves the index as it
 * was and no file half written (see receiveBundle for blobs committed early).
 */
export async function importBundle(deps: ImportDeps, entries: AsyncIterable<BundleEntry>): Promise<ImportReport> {
  const received = await receiveBundle(entries, deps.store, deps.upstreams[0]?.name ?? '')
  try {
    const checked = await checkBundle(received.files, lookupIn(received, deps.store), deps.upstreams)
    await received.commit()
    const report = await recordFacts(deps, received, checked.images)
    deps.cacheGrew()
    return report
  } finally {
    await received.abort()
  }
}
