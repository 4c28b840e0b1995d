import { releaseBytes, retainBytes } from '../buffers/segment-pool.js'
import type { BufferPool } from '../buffers/buffer-pool.js'

/** Bytes handed out by a source; `release` returns a pooled buffer once they are sent. */
export interface Bytes {
  data: Buffer
  readonly release: () => void
}

const NOTHING_TO_RELEASE = (): void => {}
export const END: Bytes = { data: Buffer.alloc(0), release: NOTHING_TO_RELEASE }

/** Bytes that need no release: a view of memory the source does not reuse. */
export function unpooled(data: Buffer): Bytes {
  return { data, release: NOTHING_TO_RELEASE }
}

/**
 * The bytes of one response, by position. Sources hand out views of memory they already
 * hold, or pooled buffers they fill from disk, so no chunk is allocated or copied twice.
 */
export interface ByteSource {
  /** Where the bytes come from: the cache, or the upstream or a peer replica as they arrive. */
  readonly origin: 'cache' | 'upstream' | 'peer'
  /**
   * The bytes at `position`, at most `maxLength` of them, waiting for them if they are
   * still arriving. Empty `data` means the content has ended.
   */
  read(position: number, maxLength: number): Promise<Bytes>
  /** Resolves once every byte is known good; rejects if they turned out not to be. */
  complete(): Promise<void>
  close(): Promise<void>
}

/** A view of a pooled segment, held until the bytes are sent. */
export function lent(data: Buffer): Bytes {
  retainBytes(data)
  return { data, release: () => releaseBytes(data) }
}

/** Reads a file region into a pooled buffer. */
export async function readPooled(
  pool: BufferPool,
  maxLength: number,
  read: (buffer: Buffer, length: number) => Promise<number>,
): Promise<Bytes> {
  const buffer = pool.acquire()
  try {
    const length = await read(buffer, Math.min(maxLength, buffer.length))
    return { data: length === buffer.length ? buffer : buffer.subarray(0, length), release: () => pool.release(buffer) }
  } catch (e) {
    pool.release(buffer)
    throw e
  }
}
