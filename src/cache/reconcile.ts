import type { Logger } from '../logger.js'
import type { BlobStore } from './blob-store.js'
import type { Index } from './cache-index.js'

/**
 * Disk is the truth: every blob in the store gets an index record. Files entered the
 * store only by an atomic rename after verification, so they are trusted as they are.
 */
export async function loadStoredBlobs(store: BlobStore, index: Index, log: Logger): Promise<number> {
  let count = 0
  for await (const blob of store.list()) {
    if ((await index.getBlob(blob.digest)) !== undefined) continue
    await index.putBlob({
      digest: blob.digest,
      size: blob.size,
      mediaType: blob.mediaType,
      upstream: blob.upstream ?? '',
      lastAccess: blob.mtimeMs,
    })
    count++
  }
  if (count > 0) log.info({ blobs: count }, 'indexed blobs found in the cache dir')
  return count
}
