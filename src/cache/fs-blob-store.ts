import { randomBytes } from 'node:crypto'
import { createReadStream, stat as statCallback, type Stats } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { mkdir, open, readdir, readFile, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { createDigester, parseDigest, tryParseDigest } from '../oci/digest.js'
import type { BlobStore, BlobWriter, ExpectedBlob, OpenBlob, StoredBlob, WriterOptions } from './blob-store.js'
import { mapConcurrently } from './concurrency.js'
import { FsBlobWriter, throwAsDiskFull } from './fs-blob-writer.js'
import { parseRecord } from './records.js'

const META_SUFFIX = '.json'

/** The small file beside a manifest. A field that is not a string counts as absent. */
const blobMetaSchema = z.object({
  mediaType: z.string().optional().catch(undefined),
  upstream: z.string().optional().catch(undefined),
})

interface BlobMeta {
  mediaType?: string
  upstream?: string
}

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

  /**
   * A directory at a time: its names from one readdir, a stat per file run a few at a
   * time, and the meta file read only where the listing shows one (manifests). A file
   * gone between the listing and its stat is left out.
   */
  async *scan(): AsyncIterable<StoredBlob[]> {
    for (const algorithm of await readdirIfAny(this.blobsDir)) {
      for (const prefix of (await readdirIfAny(join(this.blobsDir, algorithm))).sort()) {
        const dir = join(this.blobsDir, algorithm, prefix)
        const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
        const metas = new Set(entries.filter((e) => e.name.endsWith(META_SUFFIX)).map((e) => e.name))
        // Stray files (not named by a digest of their algorithm) are not blobs.
        const files = entries
          .filter((e) => e.isFile() && !e.name.endsWith(META_SUFFIX))
          .map((e) => e.name)
          .filter((name) => tryParseDigest(`${algorithm}:${name}`) !== undefined)
        const found = await mapConcurrently(files, STATS_IN_FLIGHT, (name) =>
          this.statListed(dir, `${algorithm}:${name}`, metas.has(name + META_SUFFIX)),
        )
        const batch = found.filter((blob) => blob !== undefined)
        if (batch.length > 0) yield batch
      }
    }
  }

  private async statListed(dir: string, digest: string, hasMeta: boolean): Promise<StoredBlob | undefined> {
    const path = join(dir, digest.slice(digest.indexOf(':') + 1))
    try {
      const [info, meta] = await Promise.all([statFast(path), hasMeta ? readMeta(path) : {}])
      return { digest, size: info.size, mtimeMs: info.mtimeMs, ...meta }
    } catch {
      return undefined
    }
  }
}

/**
 * fs.stat with a callback: measured a third faster than fs.promises.stat, which the walk
 * of a million files at start-up feels (bench/scale.ts).
 */
function statFast(path: string): Promise<Stats> {
  return new Promise((resolve, reject) => {
    statCallback(path, (e, info) => (e === null ? resolve(info) : reject(e)))
  })
}

/**
 * Stats in flight at once while listing: enough to keep the thread pool's 4 threads busy
 * and the disk's queue full when inodes are not cached, few enough that a request's own
 * file operations wait behind a short queue.
 */
const STATS_IN_FLIGHT = 32

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

/** A blob's meta file; none (a layer has none), or one that is unreadable or invalid, is no meta. */
async function readMeta(path: string): Promise<BlobMeta> {
  const meta = parseRecord(blobMetaSchema, await readFile(path + META_SUFFIX, 'utf8').catch(() => undefined))
  return {
    ...(meta?.mediaType === undefined ? {} : { mediaType: meta.mediaType }),
    ...(meta?.upstream === undefined ? {} : { upstream: meta.upstream }),
  }
}

async function readdirIfAny(path: string): Promise<string[]> {
  try {
    return await readdir(path)
  } catch (e) {
    if (isMissing(e)) return []
    throw e
  }
}
