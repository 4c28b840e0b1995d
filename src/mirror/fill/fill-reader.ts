import { open, type FileHandle } from 'node:fs/promises'
import type { BufferPool } from '../../buffers/buffer-pool.js'
import { END, lent, readPooled, unpooled, type Bytes, type ByteSource } from '../byte-source.js'
import type { Fill, FillOrigin } from './fill.js'
import type { ReaderMark } from './pacing.js'

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
 * A byte range of a blob while its fill writes it: reads come from the fill's in-memory
 * window of recent bytes, or from the growing temp file for a reader that fell behind.
 * Reads are positional, so readers share nothing and never wait for one another; each
 * tells the fill where it is through its mark, and the fill paces the download to them
 * (see Pace). The range's last byte is held back until the fill has verified the digest,
 * so a client never completes a download of unverified bytes; if verification fails,
 * reads fail instead and the HTTP layer cuts the connection.
 */
export class FillReader implements ByteSource {
  readonly #fill: Fill
  readonly #end: number
  readonly #pool: BufferPool
  readonly #mark: ReaderMark
  #handle: FileHandle | undefined
  #closed = false
  /** A copy of the range's last byte, taken while it waits for the verdict. */
  #heldBack: Buffer | undefined

  /** `end` is inclusive; Infinity when the blob's size is not known. */
  constructor(fill: Fill, end: number, pool: BufferPool) {
    this.#fill = fill
    this.#end = end
    this.#pool = pool
    this.#mark = fill.attach()
  }

  get origin(): FillOrigin {
    return this.#fill.origin
  }

  async read(position: number, maxLength: number): Promise<Bytes> {
    const fill = this.#fill
    for (;;) {
      if (fill.state === 'failed') throw fill.error ?? new Error('fill failed')
      const available = this.#limit() - position
      if (available > 0) {
        if (this.#heldBack !== undefined && position === this.#end) return unpooled(this.#heldBack)
        const want = Math.min(maxLength, available)
        // Bytes received are never changed again while a view of them is lent out.
        const recent = fill.bytesAt(position, want)
        if (recent !== undefined) {
          this.#mark.at(position + recent.length)
          return lent(recent)
        }
        // Fallen out of the in-memory window: those bytes are on disk by now…
        if (position < fill.written) return this.#readFile(position, Math.min(want, fill.written - position))
        // …unless the disk filled up: then they are nowhere any more.
        if (!fill.storing) {
          throw new Error(`${fill.digest}: reader fell behind a download the full disk could not keep`)
        }
      } else if (fill.verified && position >= fill.received) {
        return END
      } else if (position >= fill.received) {
        this.#mark.waiting()
      } else {
        this.#holdLastByte(position)
      }
      await fill.changed()
    }
  }

  /**
   * A reader with nothing left but its last byte, which waits for the verdict, keeps a
   * copy of it and stops counting as behind: on a full disk the download paces itself to
   * its readers, and must not wait for one that only waits for the download to end.
   */
  #holdLastByte(position: number): void {
    if (this.#heldBack !== undefined || position !== this.#end || this.#fill.received <= this.#end) return
    const last = this.#fill.bytesAt(this.#end, 1)
    if (last === undefined) return
    this.#heldBack = Buffer.from(last)
    this.#mark.waiting()
  }

  async #readFile(position: number, length: number): Promise<Bytes> {
    const handle = (this.#handle ??= await openFollowing(this.#fill))
    if (this.#closed) throw new Error('source closed')
    const bytes = await readPooled(this.#pool, length, async (buffer, max) => {
      return (await handle.read(buffer, 0, max, position)).bytesRead
    })
    if (bytes.data.length === 0) {
      bytes.release()
      throw new Error(`${this.#fill.digest}: file shorter than the bytes written`)
    }
    this.#mark.at(position + bytes.data.length)
    return bytes
  }

  async complete(): Promise<void> {
    while (!this.#fill.verified) {
      if (this.#fill.state === 'failed') throw this.#fill.error ?? new Error('fill failed')
      await this.#fill.changed()
    }
  }

  async close(): Promise<void> {
    this.#mark.detach()
    this.#closed = true
    const handle = this.#handle
    this.#handle = undefined
    await handle?.close()
  }

  /** How far reads may go now. */
  #limit(): number {
    const limit = Math.min(this.#fill.received, this.#end + 1)
    return !this.#fill.verified && limit === this.#end + 1 ? limit - 1 : limit
  }
}
