import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { mkdir, open, readFile, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { createDigester, parseDigest } from '../oci/digest.js'
import type { BlobStore, BlobWriter, ExpectedBlob, OpenBlob, StoredBlob, WriterOptions } from './blob-store.js'
import { estimateBlobCount, META_SUFFIX, readMeta, scanBlobTree } from './fs-blob-scan.js'
import { FsBlobWriter, throwAsDiskFull } from './fs-blob-writer.js'

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}

/**
 * Content-addressed files: `blobs/<algorithm>/<first two hex>/<hex>`, with a small
 * `<hex>.json` beside a manifest for its media type. Writes go to `tmp/` on the same
 * filesystem and are renamed into place only after verification.
 */
export class FsBlobStore implements BlobStore {
  private readonly blobsDir: string
  private readonly tmpDir: string

  constructor(root: string) {
    this.blobsDir = join(root, 'blobs')
    this.tmpDir = join(root, 'tmp')
  }

  /**
   * `sweep: false` leaves tmp/ alone, for a tool run beside a live mirror whose
   * downloads are in there.
   */
  async init(options: { sweep?: boolean } = {}): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true })
    // Whatever is in tmp/ was being written when a process died: it never counts.
    if (options.sweep !== false) await rm(this.tmpDir, { recursive: true, force: true })
    await mkdir(this.tmpDir, { recursive: true })
  }

  pathOf(digest: string): string {
    const { algorithm, hex } = parseDigest(digest)
    return join(this.blobsDir, algorithm, hex.slice(0, 2), hex)
  }

  async stat(digest: string): Promise<StoredBlob | undefined> {
    const path = this.pathOf(digest)
    try {
      const [info, meta] = await Promise.all([stat(path), readMeta(path)])
      return { digest, size: info.size, mtimeMs: info.mtimeMs, ...meta }
    } catch (e) {
      if (isMissing(e)) return undefined
      throw e
    }
  }

  async open(digest: string): Promise<OpenBlob | undefined> {
    let handle: FileHandle
    try {
      handle = await open(this.pathOf(digest), 'r')
    } catch (e) {
      if (isMissing(e)) return undefined
      throw e
    }
    try {
      const { size } = await handle.stat()
      return openBlob(handle, size)
    } catch (e) {
      await handle.close()
      throw e
    }
  }

  async read(digest: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(digest))
    } catch (e) {
      if (isMissing(e)) return undefined
      throw e
    }
  }

  async createWriter(expected: ExpectedBlob, options?: WriterOptions): Promise<BlobWriter> {
    const { algorithm, hex } = parseDigest(expected.digest)
    const finalPath = this.pathOf(expected.digest)
    await mkdir(join(finalPath, '..'), { recursive: true }).catch(throwAsDiskFull)
    const tempPath = join(this.tmpDir, `${hex}-${randomBytes(6).toString('hex')}`)
    const handle = await open(tempPath, 'wx', 0o644).catch(throwAsDiskFull)
    return new FsBlobWriter(
      handle,
      { tempPath, finalPath, metaPath: finalPath + META_SUFFIX },
      expected,
      createDigester(algorithm),
      options,
    )
  }

  async delete(digest: string): Promise<void> {
    const path = this.pathOf(digest)
    await unlink(path).catch((e: unknown) => {
      if (!isMissing(e)) throw e
    })
    await unlink(path + META_SUFFIX).catch(() => {})
  }

  async verify(digest: string): Promise<boolean> {
    const { algorithm } = parseDigest(digest)
    const hash = createDigester(algorithm)
    try {
      await pipeline(createReadStream(this.pathOf(digest), { highWaterMark: 1024 * 1024 }), hash)
    } catch (e) {
      if (isMissing(e)) return false
      throw e
    }
    return `${algorithm}:${hash.digest('hex')}` === digest
  }

  async *list(): AsyncIterable<StoredBlob> {
    for await (const batch of this.scan()) yield* batch
  }

  /** See scanBlobTree: a slice of a directory at a time, requests served in between. */
  scan(): AsyncIterable<StoredBlob[]> {
    return scanBlobTree(this.blobsDir)
  }

  estimateCount(): Promise<number> {
    return estimateBlobCount(this.blobsDir)
  }
}

/** An open file as an OpenBlob; also used for files that are still being written. */
export function openBlob(handle: FileHandle, size: number): OpenBlob {
  let closed = false
  return {
    size,
    read: async (buffer, position, length) => (await handle.read(buffer, 0, length, position)).bytesRead,
    close: async () => {
      if (closed) return
      closed = true
      await handle.close()
    },
  }
}
