import type { BlobStore } from '../cache/blob-store.js'
import { OperatorError } from '../errors.js'
import {
  blobEntryName,
  CONTAINERD_NAME,
  DESCRIPTION_MEDIA_TYPE,
  INDEX_FILE,
  indexMediaType,
  MARKER_FILE,
  OCI_LAYOUT,
  OCI_LAYOUT_FILE,
  REF_NAME,
  sha256Of,
  type BundleBase,
  type BundleDescription,
} from './bundle-format.js'
import type { ExportPlan } from './export-plan.js'
import type { TarWriter } from './tar-writer.js'

/** Blobs are read from disk and handed to the tar this much at a time. */
const CHUNK_BYTES = 1024 * 1024

export interface BundleOptions {
  /** Bundles this one is an increment on, and the blobs left out because they hold them. */
  base: BundleBase[]
  omitted: ReadonlySet<string>
  now: Date
  /** Told of each chunk of blob bytes written. */
  onBytes: (n: number) => void
}

/** A cached blob's bytes, read as the tar takes them. */
async function* blobChunks(store: BlobStore, digest: string, size: number): AsyncIterable<Buffer> {
  const blob = await store.open(digest)
  if (blob === undefined || blob.size !== size) {
    await blob?.close()
    throw new OperatorError(`${digest} left the cache during the export (evicted?): run the export again`)
  }
  try {
    for (let position = 0; position < size;) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - position))
      const n = await blob.read(buffer, position, buffer.length)
      if (n === 0) throw new Error(`${digest}: the cached file ended at ${position} of ${size} bytes`)
      position += n
      yield buffer.subarray(0, n)
    }
  } finally {
    await blob.close()
  }
}

/** index.json: one entry per image name, named as the layout and containerd read it. */
function indexJsonOf(plan: ExportPlan): Buffer {
  const manifests = plan.images.map(({ name, image }) => ({
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.size,
    annotations: { [REF_NAME]: name, [CONTAINERD_NAME]: name },
  }))
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: indexMediaType, manifests }))
}

/**
 * Writes the plan as an OCI image layout into the tar: the layout files and the bundle
 * description first, then every blob not left out, streamed from the store. Returns the
 * description.
 */
export async function writeBundle(
  tar: TarWriter,
  store: BlobStore,
  plan: ExportPlan,
  options: BundleOptions,
): Promise<BundleDescription> {
  const indexJson = indexJsonOf(plan)
  const description: BundleDescription = {
    registryMirrorBundle: 1,
    created: options.now.toISOString(),
    indexJson: sha256Of(indexJson),
    images: plan.images.map(({ name, image, tagCheckedAt, verdictCheckedAt }) => ({
      name,
      digest: image.digest,
      ...(tagCheckedAt === undefined ? {} : { tagCheckedAt }),
      ...(verdictCheckedAt === undefined ? {} : { verdictCheckedAt }),
    })),
    contents: [...plan.blobs.keys()].sort(),
    base: options.base,
    omitted: [...options.omitted].sort(),
  }
  const described = Buffer.from(JSON.stringify(description))
  const describedDigest = sha256Of(described)
  await tar.add(OCI_LAYOUT_FILE, Buffer.from(JSON.stringify(OCI_LAYOUT)))
  await tar.add(INDEX_FILE, indexJson)
  await tar.add(
    MARKER_FILE,
    Buffer.from(JSON.stringify({ bundle: describedDigest, mediaType: DESCRIPTION_MEDIA_TYPE })),
  )
  await tar.addDirectory('blobs/')
  await tar.addDirectory('blobs/sha256/')
  await tar.add(blobEntryName(describedDigest), described)
  for (const [digest, size] of [...plan.blobs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (options.omitted.has(digest)) continue
    await tar.addStream(blobEntryName(digest), size, tapped(blobChunks(store, digest, size), options.onBytes))
  }
  return description
}

async function* tapped(chunks: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncIterable<Buffer> {
  for await (const chunk of chunks) {
    yield chunk
    onBytes(chunk.length)
  }
}
