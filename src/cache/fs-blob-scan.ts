import { readFileSync, stat as statCallback, statSync, type Stats } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { hexPattern } from '../oci/digest.js'
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
 * Stats in a batch handed to the caller when the thread pool does them: the caller adds
 * a batch's records and lets requests in, as after each slice of synchronous stats.
 */
const BATCH_IN_FLIGHT = 512

/**
 * Every blob under `blobsDir`: a directory's names from one readdir, one stat per file,
 * and the meta file read only where the listing shows one (manifests). Yielded a slice of
 * work at a time (a few milliseconds of stats), so that the caller adds the records and
 * lets requests in before the next: a walk allocates a few objects a file, and records
 * handed on at once die young, where a directory's worth (thousands at a million blobs)
 * outlived the young generation and cost as much in garbage collection as the stats. A
 * file gone between the listing and its stat is left out.
 */
export async function* scanBlobTree(blobsDir: string): AsyncIterable<StoredBlob[]> {
  for (const algorithm of await readdirIfAny(blobsDir)) {
    const hex = hexPattern(algorithm)
    if (hex === undefined) continue
    const dirs = (await readdirIfAny(join(blobsDir, algorithm)))
      .sort()
      .map((prefix) => join(blobsDir, algorithm, prefix))
    // Names alone: a Dirent per file is garbage, and the stat says what is a file. The next
    // directory is listed (in the thread pool) while this one's files are stated.
    const list = (dir: string | undefined) => (dir === undefined ? [] : readdir(dir).catch(() => []))
    let next = list(dirs[0])
    for (const [at, dir] of dirs.entries()) {
      const names = await next
      next = list(dirs[at + 1])
      const metas = new Set(names.filter((name) => name.endsWith(META_SUFFIX)))
      // Stray files (not named by a digest of their algorithm) are not blobs.
      const files = names.filter((name) => hex.test(name))
      yield* statAll(`${dir}/`, `${algorithm}:`, files, metas)
    }
  }
}

/** Synchronously in slices while the inodes are cached, through the thread pool once they are not. */
async function* statAll(dir: string, algorithm: string, names: string[], metas: Set<string>) {
  const statNow = (name: string): StoredBlob | undefined => {
    const path = dir + name
    const info = statSync(path, { throwIfNoEntry: false })
    if (info === undefined || !info.isFile()) return undefined
    const meta = metas.has(name + META_SUFFIX) ? metaOf(readIfAny(path + META_SUFFIX)) : undefined
    return storedBlob(algorithm + name, info, meta)
  }
  const statLater = async (name: string): Promise<StoredBlob | undefined> => {
    const path = dir + name
    try {
      const hasMeta = metas.has(name + META_SUFFIX)
      const [info, meta] = await Promise.all([statByCallback(path), hasMeta ? readMeta(path) : undefined])
      return info.isFile() ? storedBlob(algorithm + name, info, meta) : undefined
    } catch {
      return undefined
    }
  }
  let at = 0
  while (at < names.length) {
    const sliceStart = performance.now()
    const first = at
    const found: StoredBlob[] = []
    while (at < names.length && performance.now() - sliceStart < SLICE_MS) {
      const blob = statNow(names[at++]!)
      if (blob !== undefined) found.push(blob)
    }
    yield found
    if ((performance.now() - sliceStart) / (at - first) <= CACHED_STAT_MS) continue
    for (; at < names.length; at += BATCH_IN_FLIGHT) {
      const batch = await mapConcurrently(names.slice(at, at + BATCH_IN_FLIGHT), STATS_IN_FLIGHT, statLater)
      yield batch.filter((blob) => blob !== undefined)
    }
  }
}

function storedBlob(digest: string, info: Stats, meta: BlobMeta | undefined): StoredBlob {
  const blob: StoredBlob = { digest, size: info.size, mtimeMs: info.mtimeMs }
  if (meta?.mediaType !== undefined) blob.mediaType = meta.mediaType
  if (meta?.upstream !== undefined) blob.upstream = meta.upstream
  return blob
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
