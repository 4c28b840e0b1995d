import { open, type FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { READ_CHUNK_BYTES } from '../cache/fs-blob-store.js'
import type { Fill } from './fill.js'

async function openFollowing(fill: Fill): Promise<FileHandle> {
  try {
    return await open(fill.tempPath, 'r')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  // Renamed into the cache between the join and the open.
  if (fill.verified) return open(fill.finalPath, 'r')
  throw fill.error ?? new Error(`fill of ${fill.digest} ended without a file`)
}

/**
 * Streams a byte range of a blob while its fill writes it, reading the temp file at the
 * reader's own pace (positional reads, so readers share nothing). The range's last byte
 * is held back until the fill has verified the digest: a client never completes a
 * download of unverified bytes; if verification fails the stream errors instead and the
 * HTTP layer cuts the connection.
 */
export class FillReader extends Readable {
  private handle: FileHandle | undefined
  private position: number
  private pumping = false

  /** `end` is inclusive; Infinity when the blob's size is not known yet. */
  constructor(
    private readonly fill: Fill,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: READ_CHUNK_BYTES })
    this.position = start
  }

  override _construct(callback: (error?: Error | null) => void): void {
    openFollowing(this.fill).then(
      (handle) => {
        this.handle = handle
        callback()
      },
      (e: Error) => callback(e),
    )
  }

  override _read(): void {
    if (!this.pumping) void this.pump()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle
    this.handle = undefined
    if (handle === undefined) {
      callback(error)
      return
    }
    handle.close().then(
      () => callback(error),
      () => callback(error),
    )
  }

  /** How far the reader may read now. */
  private limit(): number {
    const limit = Math.min(this.fill.written, this.end + 1)
    return !this.fill.verified && limit === this.end + 1 ? limit - 1 : limit
  }

  private async pump(): Promise<void> {
    this.pumping = true
    try {
      while (!this.destroyed) {
        if (this.fill.state === 'failed') {
          this.destroy(this.fill.error)
          return
        }
        // The end comes only after verification, even for an empty body.
        if (this.fill.verified && (this.position > this.end || this.position >= this.fill.written)) {
          this.push(null)
          return
        }
        const limit = this.limit()
        if (this.position >= limit) {
          await this.fill.changed()
          continue
        }
        if (!this.pushChunk(await this.readAt(this.position, Math.min(limit - this.position, READ_CHUNK_BYTES)))) {
          return
        }
      }
    } catch (e) {
      this.destroy(e as Error)
    } finally {
      this.pumping = false
    }
  }

  private async readAt(position: number, length: number): Promise<Buffer> {
    if (this.handle === undefined) throw new Error('reader closed')
    const buffer = Buffer.allocUnsafe(length)
    const { bytesRead } = await this.handle.read(buffer, 0, length, position)
    if (bytesRead === 0) throw new Error(`${this.fill.digest}: file shorter than the bytes written`)
    return bytesRead === length ? buffer : buffer.subarray(0, bytesRead)
  }

  private pushChunk(chunk: Buffer): boolean {
    if (this.destroyed) return false
    this.position += chunk.length
    return this.push(chunk)
  }
}
