import type { Logger } from '../logger.js'
import type { BlobStore } from './blob-store.js'
import type { Index } from './cache-index.js'

export interface ReconcileReport {
  /** Records whose file was gone. */
  dropped: number
  /** Files that had no record. */
  added: number
  /** Files that no longer matched their digest, deleted. */
  removed: number
}

/**
 * Disk is the truth, the index only points at it: records whose file is missing are
 * dropped, and files with no record are added, after their bytes are hashed again when
 * `verify` is set (a file that no longer matches its digest is deleted). Without
 * `verify`, files are trusted: they only ever entered the store by a rename after
 * verification.
 */
export async function reconcile(
  store: BlobStore,
  index: Index,
  log: Logger,
  options: { verify: boolean },
): Promise<ReconcileReport> {
  const report: ReconcileReport = { dropped: 0, added: 0, removed: 0 }
  for await (const record of index.listBlobs()) {
    if ((await store.stat(record.digest)) !== undefined) continue
    await index.deleteBlob(record.digest)
    report.dropped++
  }
  for await (const blob of store.list()) {
    if ((await index.getBlob(blob.digest)) !== undefined) continue
    if (options.verify && !(await store.verify(blob.digest))) {
      await store.delete(blob.digest)
      log.warn({ digest: blob.digest }, 'cached file no longer matches its digest; deleted')
      report.removed++
      continue
    }
    await index.putBlob({
      digest: blob.digest,
      size: blob.size,
      mediaType: blob.mediaType,
      upstream: blob.upstream ?? '',
      lastAccess: blob.mtimeMs,
    })
    report.added++
  }
  if (report.dropped + report.added + report.removed > 0) log.info({ ...report }, 'index reconciled with the cache dir')
  return report
}
