import { setImmediate as yieldToRequests } from 'node:timers/promises'
import type { Logger } from '../logger.js'
import type { BlobStore, StoredBlob } from './blob-store.js'
import type { BlobRecord, Index } from './cache-index.js'
import { BlobTable } from './blob-table.js'

export interface ReconcileReport {
  /** Records whose file was gone. */
  dropped: number
  /** Files that had no record. */
  added: number
  /** Files that no longer matched their digest, deleted. */
  removed: number
  /** Files seen on disk. */
  files: number
}

export interface ReconcileOptions {
  /** Hash files the index does not know before adding them (the `reindex` command). */
  verify: boolean
  /** Stops the walk between batches (shutdown). */
  signal?: AbortSignal
  /** Awaited between batches: requests are served meanwhile. Tests slow the walk with it. */
  pause?: () => Promise<void>
}

/** Records added at a time, then requests get a turn: a few milliseconds of work. */
const ADD_CHUNK = 512
/** Room made beyond the store's estimate of its blobs: an estimate a few percent short grows the tables once more. */
const ESTIMATE_MARGIN = 1.03
/** Records checked against the disk at a time when looking for records whose file is gone. */
const DROP_BATCH = 1000
/**
 * Batches of records being added at once: with Redis, the next files are stated while
 * the last batch's script runs in Redis (on the other core), instead of waiting for it.
 */
const ADDS_IN_FLIGHT = 4

/** Adds records without waiting for each batch, a few batches at most in flight. */
class PendingAdds {
  private readonly pending: Array<Promise<void>> = []
  private failed: { error: unknown } | undefined

  constructor(
    private readonly index: Index,
    private readonly report: ReconcileReport,
  ) {}

  async add(records: BlobRecord[]): Promise<void> {
    const added = this.index.addBlobs(records).then(
      (count) => {
        this.report.added += count
      },
      (error: unknown) => {
        this.failed ??= { error }
      },
    )
    this.pending.push(added)
    if (this.pending.length >= ADDS_IN_FLIGHT) await this.pending.shift()
    this.check()
  }

  async settle(): Promise<void> {
    await Promise.all(this.pending.splice(0))
    this.check()
  }

  private check(): void {
    if (this.failed !== undefined) throw this.failed.error
  }
}

/**
 * Disk is the truth, the index only points at it: files with no record are added (after
 * their bytes are hashed again when `verify` is set; a file that no longer matches its
 * digest is deleted), and records whose file is gone are dropped. A directory of the
 * cache is handled at a time, then requests get their turn: the walk runs while the
 * mirror serves. Without `verify`, files are trusted: they only ever entered the store
 * by a rename after verification.
 */
export async function reconcile(
  store: BlobStore,
  index: Index,
  log: Logger,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const pause = options.pause ?? (() => yieldToRequests())
  const report: ReconcileReport = { dropped: 0, added: 0, removed: 0, files: 0 }
  // The digests on disk, packed (a million take some 60 MB, for the walk's length only),
  // to find records whose file is gone. An index empty at the start has none: every
  // record it gets meanwhile comes from the walk or from a request that saw the file.
  const expected = Math.ceil(((await store.estimateCount?.()) ?? 0) * ESTIMATE_MARGIN)
  index.reserve?.(expected)
  const seen = (await index.stats()).blobs > 0 ? new BlobTable() : undefined
  seen?.reserve(expected)
  const adds = new PendingAdds(index, report)
  for await (const batch of store.scan()) {
    options.signal?.throwIfAborted()
    if (seen !== undefined) for (const blob of batch) seen.insertIfAbsent(blob.digest)
    report.files += batch.length
    const trusted = options.verify ? await verified(store, index, batch, log, report) : batch
    for (let at = 0; at < trusted.length; at += ADD_CHUNK) {
      await adds.add(trusted.slice(at, at + ADD_CHUNK).map(recordOf))
      await yieldToRequests()
    }
    await pause()
  }
  await adds.settle()
  if (seen !== undefined) await dropMissing(store, index, seen, report, options.signal, pause)
  if (report.dropped + report.added + report.removed > 0) {
    log.info({ ...report }, 'index reconciled with the cache dir')
  }
  return report
}

function recordOf(blob: StoredBlob): BlobRecord {
  // One object of one shape a file, without spreads: the walk makes a million of them.
  const record: BlobRecord = {
    digest: blob.digest,
    size: blob.size,
    upstream: blob.upstream ?? '',
    lastAccess: blob.mtimeMs,
  }
  if (blob.mediaType !== undefined) record.mediaType = blob.mediaType
  return record
}

/** The files of a batch the index does not know and whose bytes still match; others deleted. */
async function verified(
  store: BlobStore,
  index: Index,
  batch: StoredBlob[],
  log: Logger,
  report: ReconcileReport,
): Promise<StoredBlob[]> {
  const kept: StoredBlob[] = []
  for (const blob of batch) {
    if ((await index.getBlob(blob.digest)) !== undefined) continue
    if (await store.verify(blob.digest)) {
      kept.push(blob)
      continue
    }
    await store.delete(blob.digest)
    log.warn({ digest: blob.digest }, 'cached file no longer matches its digest; deleted')
    report.removed++
  }
  return kept
}

/**
 * Records whose file the walk did not see. One written while the walk ran (a fill) is
 * still on disk: only records whose file is really gone are dropped.
 */
async function dropMissing(
  store: BlobStore,
  index: Index,
  seen: BlobTable,
  report: ReconcileReport,
  signal: AbortSignal | undefined,
  pause: () => Promise<void>,
): Promise<void> {
  let unseen: string[] = []
  const check = async () => {
    for (const digest of unseen) {
      if ((await store.stat(digest)) !== undefined) continue
      await index.deleteBlob(digest)
      report.dropped++
    }
    unseen = []
  }
  let n = 0
  for await (const record of index.listBlobs()) {
    if (seen.find(record.digest) < 0) unseen.push(record.digest)
    if (++n % DROP_BATCH !== 0) continue
    await check()
    signal?.throwIfAborted()
    await pause()
  }
  await check()
}
