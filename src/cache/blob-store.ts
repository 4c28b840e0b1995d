import type { Writable } from 'node:stream'

/** What the store knows of a stored blob from the disk alone. */
export interface StoredBlob {
  digest: string
  size: number
  /** Set for manifests: the media type they were served with. */
  mediaType?: string
  /** The upstream registry host the content came from, when recorded. */
  upstream?: string
  mtimeMs: number
}

/** A blob held open: its size is known and the bytes can no longer vanish under a reader. */
export interface OpenBlob {
  readonly size: number
  /** The whole blob, when the store holds it in memory: readers may send views of it. */
  readonly contents?: Buffer
  /**
   * Reads up to `length` bytes at `position` into `buffer`, resolving with the count.
   * Positional, so one open blob may serve reads in any order.
   */
  read(buffer: Buffer, position: number, length: number): Promise<number>
  /** Releases the blob. Safe to call more than once. */
  close(): Promise<void>
}

export interface ExpectedBlob {
  digest: string
  /** The announced length, when known: more or fewer bytes fail the write. */
  size?: number
  mediaType?: string
  upstream?: string
}

/** The disk refused the bytes for want of room: nothing is cached, but they may still be good. */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError'
}

/**
 * A blob being written: a Writable that hashes and counts. It finishes only when the bytes
 * match the expected digest and size; `commit` then makes it durable and visible
 * atomically. `abort` is idempotent and safe after commit, so it belongs in every `finally`.
 */
export interface BlobWriter extends Writable {
  /** Where the bytes are written; readers may follow it while the write goes on. */
  readonly tempPath: string
  /** Where the blob appears once committed. */
  readonly finalPath: string
  /** Bytes written to the file so far (readable at those offsets). */
  readonly written: number
  /**
   * False once the disk refused to take more (ENOSPC): the bytes are still hashed and the
   * write still finishes when they match, but commit fails with DiskFullError and nothing
   * is cached.
   */
  readonly storing: boolean
  commit(): Promise<StoredBlob>
  abort(): Promise<void>
}

export interface WriterOptions {
  /** Called after each write reaches the file, with the bytes written so far. */
  onProgress?: (written: number) => void
}

/** Bytes by digest. Holds no facts beyond what makes the bytes self-describing. */
export interface BlobStore {
  /** Creates folders and, unless told not to, removes temp files a crash left behind. */
  init(options?: { sweep?: boolean }): Promise<void>
  stat(digest: string): Promise<StoredBlob | undefined>
  open(digest: string): Promise<OpenBlob | undefined>
  /** The whole blob in memory; for manifests, which are small. */
  read(digest: string): Promise<Buffer | undefined>
  createWriter(expected: ExpectedBlob, options?: WriterOptions): Promise<BlobWriter>
  delete(digest: string): Promise<void>
  list(): AsyncIterable<StoredBlob>
  /** Every stored blob as list() yields them, a batch (a slice of a directory) at a time. */
  scan(): AsyncIterable<StoredBlob[]>
  /** About how many blobs are stored, from a sample: for sizing tables before a scan. */
  estimateCount?(): Promise<number>
  /** Hashes a stored blob: true when its bytes still match its digest. */
  verify(digest: string): Promise<boolean>
}
