import { releaseBytes, retainBytes } from '../../buffers/segment-pool.js'

/** A fill keeps this many of its newest bytes: readers within it are served from memory. */
export const RECENT_BYTES = 8 * 1024 * 1024

interface Chunk {
  start: number
  data: Buffer
}

/**
 * The last bytes of a stream, kept in memory. Readers close behind a fill (the usual
 * case: one client pulling a cold layer) take their bytes from here and never wait for the disk.
 * It holds a segment reference for each chunk it keeps; a reader that keeps a view past
 * the current call takes its own.
 */
export class RecentBytes {
  private chunks: Chunk[] = []
  private held = 0
  /** Bytes appended so far. */
  end = 0

  constructor(private readonly capacity: number) {}

  append(data: Buffer): void {
    retainBytes(data)
    this.chunks.push({ start: this.end, data })
    this.end += data.length
    this.held += data.length
    while (this.chunks.length > 1 && this.held - this.chunks[0]!.data.length >= this.capacity) {
      const dropped = this.chunks.shift()!.data
      this.held -= dropped.length
      releaseBytes(dropped)
    }
  }

  /** A view of up to `length` bytes at `position`, within one chunk; undefined when not held. */
  view(position: number, length: number): Buffer | undefined {
    // Readers are nearly always close behind the head: search from the newest chunk.
    for (let i = this.chunks.length - 1; i >= 0; i--) {
      const chunk = this.chunks[i]!
      if (position < chunk.start) continue
      const offset = position - chunk.start
      if (offset >= chunk.data.length) return undefined
      return chunk.data.subarray(offset, offset + Math.min(length, chunk.data.length - offset))
    }
    return undefined
  }

  clear(): void {
    for (const chunk of this.chunks) releaseBytes(chunk.data)
    this.chunks = []
    this.held = 0
  }
}
