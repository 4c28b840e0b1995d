import { readFileSync, stat as statCallback, statSync, type Dir, type Stats } from 'node:fs'
import { opendir, readdir, readFile } from 'node:fs/promises'
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

/** Directory entries read at a time by a listing (from the kernel's cache of them, at once). */
const LISTING_BUFFER = 256
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
    // The meta files of the next directory are listed (in the thread pool) while this one's
    // files are stated.
    let metas = metaNames(dirs[0])
    for (const [at, dir] of dirs.entries()) {
      const known = await metas
      metas = metaNames(dirs[at + 1])
      const listing = await opendir(dir, { bufferSize: LISTING_BUFFER }).catch(() => undefined)
      if (listing === undefined) continue
      try {
        yield* statAll(`${dir}/`, `${algorithm}:`, blobNames(listing, hex), known)
      } finally {
        await listing.close().catch(() => {})
      }
    }
  }
}

/**
 * The names of a directory's meta files: a first listing, kept only for those (one file in
 * 25). The blobs' names are streamed by a second: a directory's worth of names (thousands
 * at a million blobs) held while its files are stated outlived the young generation, and
 * was as much garbage in the old one as the index's own records.
 */
async function metaNames(dir: string | undefined): Promise<Set<string>> {
  if (dir === undefined) return new Set()
  const names = await readdir(dir).catch(() => [])
  return new Set(names.filter((name) => name.endsWith(META_SUFFIX)))
}

/** Names of blobs as the directory lists them. Stray files (not named by a digest of their algorithm) are not blobs. */
function* blobNames(listing: Dir, hex: RegExp): Generator<string, void, number> {
  for (let entry = listing.readSync(); entry !== null; entry = listing.readSync()) {
    if (hex.test(entry.name)) yield entry.name
  }
}

/**
 * About how many blobs the tree holds: digests spread evenly over the prefix directories,
 * so one of them counted, times their number (a million blobs: within 2%).
 */
export async function estimateBlobCount(blobsDir: string): Promise<number> {
  let total = 0
  for (const algorithm of await readdirIfAny(blobsDir)) {
    const hex = hexPattern(algorithm)
    const prefixes = await readdirIfAny(join(blobsDir, algorithm))
    const sample = prefixes[Math.floor(prefixes.length / 2)]
    if (hex === undefined || sample === undefined) continue
    const names = await readdir(join(blobsDir, algorithm, sample)).catch(() => [])
    total += names.filter((name) => hex.test(name)).length * prefixes.length
  }
  return total
}

/** Synchronously in slices while the inodes are cached, through the thread pool once they are not. */
async function* statAll(dir: string, algorithm: string, names: Iterator<string>, metas: Set<string>) {
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
  let cached = true
  for (let name = names.next(); !name.done;) {
    const sliceStart = performance.now()
    let count = 0
    const found: StoredBlob[] = []
    if (cached) {
      for (; !name.done && performance.now() - sliceStart < SLICE_MS; name = names.next()) {
        const blob = statNow(name.value)
        count++
        if (blob !== undefined) found.push(blob)
      }
      cached = (performance.now() - sliceStart) / count <= CACHED_STAT_MS
    } else {
      const batch: string[] = []
      for (; !name.done && batch.length < BATCH_IN_FLIGHT; name = names.next()) batch.push(name.value)
      const stated = await mapConcurrently(batch, STATS_IN_FLIGHT, statLater)
      for (const blob of stated) if (blob !== undefined) found.push(blob)
    }
    yield found
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
