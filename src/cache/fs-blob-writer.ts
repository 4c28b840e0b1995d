import type { Hash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { rename, unlink, writeFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import { UpstreamContentError } from '../errors.js'
import type { BlobWriter, ExpectedBlob, StoredBlob, WriterOptions } from './blob-store.js'

/**
 * Big enough that a fast upstream's chunks reach the disk in few writev calls, small
 * enough that a slow disk holds back the upstream socket early (backpressure).
 */
const WRITE_BUFFER_BYTES = 1024 * 1024

export interface WriterPaths {
  tempPath: string
  finalPath: string
  /** Sidecar for the media type; written only when the expected blob has one. */
  metaPath: string
}

/** Streams into a temp file, hashing and counting; see BlobWriter for the contract. */
export class FsBlobWriter extends Writable implements BlobWriter {
  readonly tempPath: string
  readonly finalPath: string
  private readonly metaPath: string
  private bytes = 0
  private settled: 'open' | 'committed' | 'aborted' = 'open'
  private handleClosed = false

  constructor(
    private readonly handle: FileHandle,
    paths: WriterPaths,
    private readonly expected: ExpectedBlob,
    private readonly hash: Hash,
    private readonly options: WriterOptions = {},
  ) {
    super({ highWaterMark: WRITE_BUFFER_BYTES, decodeStrings: true })
    this.tempPath = paths.tempPath
    this.finalPath = paths.finalPath
    this.metaPath = paths.metaPath
  }

  get written(): number {
    return this.bytes
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append([chunk]).then(() => callback(), callback)
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    this.append(chunks.map((c) => c.chunk)).then(() => callback(), callback)
  }

  private async append(buffers: Buffer[]): Promise<void> {
    const length = buffers.reduce((sum, b) => sum + b.length, 0)
    if (this.expected.size !== undefined && this.bytes + length > this.expected.size) {
      throw new UpstreamContentError(`${this.expected.digest}: more than the announced ${this.expected.size} bytes`)
    }
    for (const buffer of buffers) this.hash.update(buffer)
    let offset = 0
    while (offset < length) {
      const { bytesWritten } = await this.handle.writev(skip(buffers, offset))
      offset += bytesWritten
    }
    this.bytes += length
    this.options.onProgress?.(this.bytes)
  }

  /** The write only finishes when size and digest match: pipeline() fails otherwise. */
  override _final(callback: (error?: Error | null) => void): void {
    const { digest, size } = this.expected
    if (size !== undefined && this.bytes !== size) {
      callback(new UpstreamContentError(`${digest}: ${this.bytes} bytes, announced ${size}`))
      return
    }
    const algorithm = digest.slice(0, digest.indexOf(':'))
    const actual = `${algorithm}:${this.hash.digest('hex')}`
    if (actual !== digest) {
      callback(new UpstreamContentError(`${digest}: content hashes to ${actual}`))
      return
    }
    callback()
  }

  async commit(): Promise<StoredBlob> {
    if (!this.writableFinished) throw new Error('commit before the write finished')
    if (this.settled !== 'open') throw new Error(`commit after ${this.settled}`)
    // Flush before the rename, so a crash can never leave a short file under the final name.
    await this.handle.sync()
    await this.closeHandle()
    if (this.expected.mediaType !== undefined) {
      const meta = JSON.stringify({ mediaType: this.expected.mediaType, upstream: this.expected.upstream })
      const metaTemp = `${this.tempPath}.json`
      await writeFile(metaTemp, meta, { flag: 'wx' })
      await rename(metaTemp, this.metaPath)
    }
    await rename(this.tempPath, this.finalPath)
    this.settled = 'committed'
    return {
      digest: this.expected.digest,
      size: this.bytes,
      mediaType: this.expected.mediaType,
      upstream: this.expected.upstream,
      mtimeMs: Date.now(),
    }
  }

  async abort(): Promise<void> {
    if (this.settled !== 'open') return
    this.settled = 'aborted'
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
