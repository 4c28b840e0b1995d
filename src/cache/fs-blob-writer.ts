import type { Hash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { rename, unlink, writeFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { releaseBytes } from '../buffers/segment-pool.js'
import { UpstreamContentError } from '../errors.js'
import { DiskFullError, type BlobWriter, type ExpectedBlob, type StoredBlob, type WriterOptions } from './blob-store.js'

/**
 * Writes go out at explicit offsets without waiting for the previous one, so hashing the
 * next chunk overlaps the disk write of the last; past this many bytes in flight the
 * writer stops taking chunks (backpressure to the upstream socket).
 */
const MAX_IN_FLIGHT_BYTES = 4 * 1024 * 1024
/** Network chunks are 64 KiB; one syscall per chunk would cost more than the copy. */
const WRITE_BATCH_BYTES = 1024 * 1024
/**
 * Written bytes are flushed to disk as the download goes (RocksDB's bytes_per_sync), so
 * the fsync before the rename only has the tail to write: a whole layer's worth of dirty
 * pages flushed at once stalls the disk for everyone else, the pulling client included.
 */
const SYNC_EVERY_BYTES = 16 * 1024 * 1024

export interface WriterPaths {
  tempPath: string
  finalPath: string
  /** Sidecar for the media type; written only when the expected blob has one. */
  metaPath: string
}

/**
 * Streams into a temp file, hashing and counting; see BlobWriter for the contract. It
 * takes over the segment reference a pooled chunk carries and gives it back once the
 * chunk is on disk, or at once when the chunk is not to be stored.
 */
export class FsBlobWriter extends Writable implements BlobWriter {
  readonly tempPath: string
  readonly finalPath: string
  private readonly metaPath: string
  /** Bytes on disk with no gap before them. */
  private bytes = 0
  /** Bytes handed to the disk, some maybe still in flight. */
  private issued = 0
  /** Bytes hashed: all that arrived, stored or not. */
  private received = 0
  /** Set when the disk refused more: from then on bytes are verified, not stored. */
  private diskFull: Error | undefined
  private readonly pending: PendingWrite[] = []
  /** Chunks hashed but not yet written: they go to the disk in batches. */
  private staged: Buffer[] = []
  private stagedBytes = 0
  private failure: Error | undefined
  /** A flush of what was written so far, while one runs. */
  private syncing: Promise<void> | undefined
  private syncedTo = 0
  private settled: 'open' | 'committed' | 'aborted' = 'open'
  private handleClosed = false

  constructor(
    private readonly handle: FileHandle,
    paths: WriterPaths,
    private readonly expected: ExpectedBlob,
    private readonly hash: Hash,
    private readonly options: WriterOptions = {},
  ) {
    super({ decodeStrings: true })
    this.tempPath = paths.tempPath
    this.finalPath = paths.finalPath
    this.metaPath = paths.metaPath
  }

  get written(): number {
    return this.bytes
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append([chunk], callback)
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    this.append(
      chunks.map((c) => c.chunk),
      callback,
    )
  }

  /** Hashes at once, writes in batches at the next offset, and takes more unless too much is in flight. */
  private append(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const drop = () => buffers.forEach(releaseBytes)
    if (this.failure !== undefined) {
      drop()
      return callback(this.failure)
    }
    const length = buffers.reduce((sum, b) => sum + b.length, 0)
    if (this.expected.size !== undefined && this.received + length > this.expected.size) {
      drop()
      return callback(
        new UpstreamContentError(`${this.expected.digest}: more than the announced ${this.expected.size} bytes`),
      )
    }
    for (const buffer of buffers) this.hash.update(buffer)
    this.received += length
    // A full disk stops the storing, not the verifying: the bytes still reach their readers.
    if (this.diskFull !== undefined) {
      drop()
      return callback()
    }
    this.staged.push(...buffers)
    this.stagedBytes += length
    if (this.stagedBytes >= WRITE_BATCH_BYTES) this.flush()
    if (this.issued - this.bytes <= MAX_IN_FLIGHT_BYTES) return callback()
    void this.pending[0]!.done.then(() => callback(this.failure))
  }

  get storing(): boolean {
    return this.diskFull === undefined
  }

  /** Issues one positional write for everything staged. */
  private flush(): void {
    if (this.diskFull !== undefined) this.staged.forEach(releaseBytes)
    if (this.stagedBytes === 0 || this.diskFull !== undefined) {
      this.staged = []
      this.stagedBytes = 0
      return
    }
    const write: PendingWrite = { end: this.issued + this.stagedBytes, complete: false, done: Promise.resolve() }
    const batch = this.staged
    write.done = writeAll(this.handle, batch, this.issued)
      .then(
        () => {
          write.complete = true
          this.settle()
        },
        (e: Error) => this.refused(e),
      )
      // Only now is the disk done with the bytes.
      .finally(() => batch.forEach(releaseBytes))
    this.issued = write.end
    this.pending.push(write)
    this.staged = []
    this.stagedBytes = 0
  }

  /** A write or flush the disk refused: a full disk stops the storing, anything else the blob. */
  private refused(e: Error): void {
    const refusal = asDiskFull(e)
    if (refusal instanceof DiskFullError) this.diskFull ??= refusal
    else this.failure ??= e
  }

  /** Writes may complete out of order; `written` counts only the unbroken prefix. */
  private settle(): void {
    const before = this.bytes
    while (this.pending[0]?.complete === true) this.bytes = this.pending.shift()!.end
    if (this.bytes !== before) this.options.onProgress?.(this.bytes)
    if (this.syncing === undefined && this.bytes - this.syncedTo >= SYNC_EVERY_BYTES) {
      const upTo = this.bytes
      // Linux reports a write-back error to one fsync only: the one that sees it decides.
      this.syncing = this.handle
        .datasync()
        .then(
          () => {
            this.syncedTo = upTo
          },
          (e: Error) => this.refused(e),
        )
        .finally(() => {
          this.syncing = undefined
        })
    }
  }

  /** The write only finishes when size and digest match: pipeline() fails otherwise. */
  override _final(callback: (error?: Error | null) => void): void {
    this.flush()
    Promise.all(this.pending.map((w) => w.done)).then(() => callback(this.verify()), callback)
  }

  private verify(): Error | undefined {
    if (this.failure !== undefined) return this.failure
    const { digest, size } = this.expected
    if (size !== undefined && this.received !== size) {
      return new UpstreamContentError(`${digest}: ${this.received} bytes, announced ${size}`)
    }
    const algorithm = digest.slice(0, digest.indexOf(':'))
    const actual = `${algorithm}:${this.hash.digest('hex')}`
    if (actual !== digest) return new UpstreamContentError(`${digest}: content hashes to ${actual}`)
    return undefined
  }

  async commit(): Promise<StoredBlob> {
    if (!this.writableFinished) throw new Error('commit before the write finished')
    if (this.settled !== 'open') throw new Error(`commit after ${this.settled}`)
    // Flush before the rename, so a crash can never leave a short file under the final name.
    await this.syncing
    if (this.failure !== undefined) throw this.failure
    if (this.diskFull !== undefined) throw this.diskFull
    await this.persist().catch(throwAsDiskFull)
    this.settled = 'committed'
    return {
      digest: this.expected.digest,
      size: this.received,
      mediaType: this.expected.mediaType,
      upstream: this.expected.upstream,
      mtimeMs: Date.now(),
    }
  }

  private async persist(): Promise<void> {
    await this.handle.sync()
    await this.closeHandle()
    if (this.expected.mediaType !== undefined) {
      const meta = JSON.stringify({ mediaType: this.expected.mediaType, upstream: this.expected.upstream })
      const metaTemp = `${this.tempPath}.json`
      await writeFile(metaTemp, meta, { flag: 'wx' })
      await rename(metaTemp, this.metaPath)
    }
    await rename(this.tempPath, this.finalPath)
  }

  async abort(): Promise<void> {
    if (this.settled !== 'open') return
    this.settled = 'aborted'
    this.staged.forEach(releaseBytes)
    this.staged = []
    this.stagedBytes = 0
    if (!this.destroyed) this.destroy()
    await this.closeHandle().catch(() => {})
    await unlink(this.tempPath).catch(() => {})
    await unlink(`${this.tempPath}.json`).catch(() => {})
  }

  private async closeHandle(): Promise<void> {
    if (this.handleClosed) return
    this.handleClosed = true
    await this.handle.close()
  }
}

/** A refusal for want of room (ENOSPC, or EDQUOT over a quota) as a DiskFullError; anything else as it is. */
function asDiskFull(e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return e
  return new DiskFullError(e instanceof Error ? e.message : String(code), { cause: e })
}

/** Rethrows a filesystem error, a refusal for want of room as a DiskFullError. */
export function throwAsDiskFull(e: unknown): never {
  throw asDiskFull(e)
}

interface PendingWrite {
  /** Offset just past this write. */
  end: number
  complete: boolean
  /** Settles when the write has ended; never rejects (failures are kept aside). */
  done: Promise<void>
}

async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  const length = buffers.reduce((sum, b) => sum + b.length, 0)
  let offset = 0
  while (offset < length) {
    const { bytesWritten } = await handle.writev(skip(buffers, offset), position + offset)
    offset += bytesWritten
  }
}

/** The buffers from byte `offset` on, after a short writev. */
function skip(buffers: Buffer[], offset: number): Buffer[] {
  if (offset === 0) return buffers
  const out: Buffer[] = []
  let remaining = offset
  for (const buffer of buffers) {
    if (remaining >= buffer.length) {
      remaining -= buffer.length
      continue
    }
    out.push(remaining > 0 ? buffer.subarray(remaining) : buffer)
    remaining = 0
  }
  return out
}
