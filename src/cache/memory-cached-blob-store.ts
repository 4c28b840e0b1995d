import { LRUCache } from 'lru-cache'
import type { BlobStore, BlobWriter, ExpectedBlob, OpenBlob, StoredBlob, WriterOptions } from './blob-store.js'

/** A blob larger than this share of the memory budget is left to the page cache. */
const MAX_SHARE_PER_BLOB = 1 / 8

/**
 * Keeps the most recently read small blobs (configs, small layers, manifests) in memory in
 * front of another store. A hot blob read by many clients at once is then sent straight
 * from one buffer, with no read per client: reads from disk cost a copy and a thread-pool
 * round trip per chunk, which is what limits many concurrent small downloads. Blobs enter
 * when first read, after the store verified them on write; a delete drops them here first.
 */
export class MemoryCachedBlobStore implements BlobStore {
  private readonly hot: LRUCache<string, Buffer>
  private readonly maxBlobBytes: number
  /** Counts deletes: a read that overlapped one does not enter, or it could outlive its file. */
  private deletes = 0

  constructor(
    private readonly inner: BlobStore,
    budgetBytes: number,
  ) {
    this.maxBlobBytes = Math.floor(budgetBytes * MAX_SHARE_PER_BLOB)
    this.hot = new LRUCache<string, Buffer>({ maxSize: budgetBytes, sizeCalculation: (b) => Math.max(1, b.length) })
  }

  init(options?: { sweep?: boolean }): Promise<void> {
    return this.inner.init(options)
  }

  stat(digest: string): Promise<StoredBlob | undefined> {
    return this.inner.stat(digest)
  }

  async open(digest: string): Promise<OpenBlob | undefined> {
    const held = this.hot.get(digest)
    if (held !== undefined) return inMemory(held)
    const deletesBefore = this.deletes
    const blob = await this.inner.open(digest)
    if (blob === undefined || blob.size > this.maxBlobBytes) return blob
    try {
      const contents = await readWhole(blob)
      if (this.deletes === deletesBefore) this.hot.set(digest, contents)
      return inMemory(contents)
    } finally {
      await blob.close()
    }
  }

  async read(digest: string): Promise<Buffer | undefined> {
    return this.hot.get(digest) ?? this.inner.read(digest)
  }

  createWriter(expected: ExpectedBlob, options?: WriterOptions): Promise<BlobWriter> {
    return this.inner.createWriter(expected, options)
  }

  async delete(digest: string): Promise<void> {
    this.deletes++
    this.hot.delete(digest)
    await this.inner.delete(digest)
    // Again after the unlink: a read that started while it ran saw the file too.
    this.deletes++
    this.hot.delete(digest)
  }

  list(): AsyncIterable<StoredBlob> {
    return this.inner.list()
  }

  async estimateCount(): Promise<number> {
    return (await this.inner.estimateCount?.()) ?? 0
  }

  scan(): AsyncIterable<StoredBlob[]> {
    return this.inner.scan()
  }

  /** Checks the disk, the truth: a copy held here was read from it. */
  async verify(digest: string): Promise<boolean> {
    const ok = await this.inner.verify(digest)
    if (!ok) {
      this.deletes++
      this.hot.delete(digest)
    }
    return ok
  }
}

function inMemory(contents: Buffer): OpenBlob {
  return {
    size: contents.length,
    contents,
    read: (buffer, position, length) => Promise.resolve(contents.copy(buffer, 0, position, position + length)),
    close: () => Promise.resolve(),
  }
}

async function readWhole(blob: OpenBlob): Promise<Buffer> {
  const contents = Buffer.allocUnsafeSlow(blob.size)
  let filled = 0
  while (filled < blob.size) {
    const n = await blob.read(contents.subarray(filled), filled, blob.size - filled)
    if (n === 0) throw new Error(`blob shorter than its ${blob.size} bytes`)
    filled += n
  }
  return contents
}
