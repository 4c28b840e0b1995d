import { readFileSync, stat as statCallback, statSync, type Stats } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setImmediate as yieldToRequests } from 'node:timers/promises'
import { z } from 'zod'
import { tryParseDigest } from '../oci/digest.js'
import type { StoredBlob } from './blob-store.js'
import { mapConcurrently } from './concurrency.js'
import { parseRecord } from './records.js'

export const META_SUFFIX = '.json'

/** The small file beside a manifest. A field that is not a string counts as absent. */
const blobMetaSchema = z.object({
  mediaType: z.string().optional().catch(undefined),
  upstream: z.string().optional().catch(undefined),
})

interface BlobMeta {
  mediaType?: string
  upstream?: string
}

/**
 * Synchronous stats run for at most this long before requests get a turn. A stat of a
 * cached inode takes microseconds, where one through the thread pool costs some 30 µs of
 * the event loop's time in callbacks and promises: in slices, the walk of a million files
 * goes three times as fast (bench/scale.ts) and delays a request by a slice at most.
 */
const SLICE_MS = 2
/**
 * Stats slower than this on average over a slice read the disk: the rest of the directory
 * goes through the thread pool, where the disk serves several at once. (On average: on a
 * busy machine a single stat may take a millisecond for want of a core.)
 */
const CACHED_STAT_MS = 0.2
/**
 * Stats in flight at once when the inodes are not cached: enough to keep the thread
 * pool's 4 threads busy and the disk's queue full, few enough that a request's own file
 * operations wait behind a short queue.
 */
const STATS_IN_FLIGHT = 32

/**
 * Every blob under `blobsDir`, a directory at a time: its names from one readdir, one
 * stat per file, and the meta file read only where the listing shows one (manifests). A
 * file gone between the listing and its stat is left out.
 */
export async function* scanBlobTree(blobsDir: string): AsyncIterable<StoredBlob[]> {
  for (const algorithm of await readdirIfAny(blobsDir)) {
    for (const prefix of (await readdirIfAny(join(blobsDir, algorithm))).sort()) {
      const dir = join(blobsDir, algorithm, prefix)
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
      const metas = new Set(entries.filter((e) => e.name.endsWith(META_SUFFIX)).map((e) => e.name))
      // Stray files (not named by a digest of their algorithm) are not blobs.
      const files = entries
        .filter((e) => e.isFile() && !e.name.endsWith(META_SUFFIX))
        .map((e) => ({
          digest: `${algorithm}:${e.name}`,
          path: join(dir, e.name),
          hasMeta: metas.has(e.name + META_SUFFIX),
        }))
        .filter((file) => tryParseDigest(file.digest) !== undefined)
      const batch = await statAll(files)
      if (batch.length > 0) yield batch
    }
  }
}

interface ListedFile {
  digest: string
  path: string
  hasMeta: boolean
}

/** Synchronously in slices while the inodes are cached, through the thread pool once they are not. */
async function statAll(files: ListedFile[]): Promise<StoredBlob[]> {
  const found: StoredBlob[] = []
  let at = 0
  while (at < files.length) {
    const sliceStart = performance.now()
    const first = at
    while (at < files.length && performance.now() - sliceStart < SLICE_MS) {
      const blob = statNow(files[at++]!)
      if (blob !== undefined) found.push(blob)
    }
    if ((performance.now() - sliceStart) / (at - first) > CACHED_STAT_MS) {
      const rest = await mapConcurrently(files.slice(at), STATS_IN_FLIGHT, statLater)
      return [...found, ...rest.filter((blob) => blob !== undefined)]
    }
    if (at < files.length) await yieldToRequests()
  }
  return found
}

function statNow(file: ListedFile): StoredBlob | undefined {
  const info = statSync(file.path, { throwIfNoEntry: false })
  if (info === undefined) return undefined
  const meta = file.hasMeta ? metaOf(readIfAny(file.path + META_SUFFIX)) : {}
  return { digest: file.digest, size: info.size, mtimeMs: info.mtimeMs, ...meta }
}

async function statLater(file: ListedFile): Promise<StoredBlob | undefined> {
  try {
    const [info, meta] = await Promise.all([statByCallback(file.path), file.hasMeta ? readMeta(file.path) : {}])
    return { digest: file.digest, size: info.size, mtimeMs: info.mtimeMs, ...meta }
  } catch {
    return undefined
  }
}

/** fs.stat with a callback: measured a third faster than fs.promises.stat. */
function statByCallback(path: string): Promise<Stats> {
  return new Promise((resolve, reject) => {
    statCallback(path, (e, info) => (e === null ? resolve(info) : reject(e)))
  })
}

function readIfAny(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** A blob's meta file; none (a layer has none), or one that is unreadable or invalid, is no meta. */
export async function readMeta(path: string): Promise<BlobMeta> {
  return metaOf(await readFile(path + META_SUFFIX, 'utf8').catch(() => undefined))
}

function metaOf(text: string | undefined): BlobMeta {
  const meta = parseRecord(blobMetaSchema, text)
  return {
    ...(meta?.mediaType === undefined ? {} : { mediaType: meta.mediaType }),
    ...(meta?.upstream === undefined ? {} : { upstream: meta.upstream }),
  }
}

async function readdirIfAny(path: string): Promise<string[]> {
  try {
    return await readdir(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return []
    throw e
  }
}
