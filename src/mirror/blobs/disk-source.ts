import type { BufferPool } from '../../buffers/buffer-pool.js'
import type { OpenBlob } from '../../cache/blob-store.js'
import { readPooled, unpooled, type ByteSource } from '../byte-source.js'

/** A cached blob: verified before it was stored, so complete at once. */
export function diskSource(blob: OpenBlob, pool: BufferPool): ByteSource {
  const { contents } = blob
  return {
    origin: 'cache',
    read: (position, maxLength) =>
      contents !== undefined
        ? Promise.resolve(unpooled(contents.subarray(position, position + maxLength)))
        : readPooled(pool, maxLength, (buffer, length) => blob.read(buffer, position, length)),
    complete: async () => {},
    close: () => blob.close(),
  }
}
