import { readFile } from 'node:fs/promises'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore, BlobWriter } from '../cache/blob-store.js'
import { DiskFullError } from '../cache/blob-store.js'
import { OperatorError, UpstreamContentError, messageOf } from '../errors.js'
import { createDigester, parseDigest } from '../oci/digest.js'
import { sniffManifestType } from '../oci/manifest.js'
import { BundleError, type BundleEntry } from './bundle-entries.js'
import { parseRecord } from '../cache/records.js'
import { digestOfEntry, INDEX_FILE, MARKER_FILE, markerSchema, OCI_LAYOUT_FILE } from './bundle-format.js'

/** Registries refuse manifests over 4 MiB; a bigger blob is read as a layer. */
const MANIFEST_MAX_BYTES = 4 * 1024 * 1024
/** index.json lists every image of a bundle; the other layout files are a line. */
const LAYOUT_FILE_MAX_BYTES: Record<string, number> = {
  [OCI_LAYOUT_FILE]: 64 * 1024,
  [INDEX_FILE]: 16 * 1024 * 1024,
  [MARKER_FILE]: 64 * 1024,
}
/**
 * Verified blobs wait uncommitted (invisible) until the whole bundle checks out; each
 * holds a file open. Past this many, the oldest are committed early: they are verified,
 * so at worst they stay as orphans of a bundle refused later, which reconcile indexes.
 */
const MAX_PENDING = 256

/** A blob the bundle carries, verified against its digest. */
export interface ReceivedBlob {
  digest: string
  size: number
  /** Set when its bytes are a manifest or an index. */
  mediaType?: string
  /** Already in the cache before this import: verified, not written. */
  present: boolean
  /** Our bundle's description: checked, not kept in the cache. */
  description?: boolean
  read(): Promise<Buffer>
}

export interface ReceivedBundle {
  /** The layout files, when the bundle has them. */
  files: Map<string, Buffer>
  blobs: Map<string, ReceivedBlob>
  /** Makes every new blob visible in the store (verified orphans until indexed). */
  commit(): Promise<void>
  /** Drops what is not committed yet. Safe after commit. */
  abort(): Promise<void>
}

async function readAll(entry: BundleEntry, max: number): Promise<Buffer> {
  if (entry.size > max) throw new BundleError(`${entry.name} is ${entry.size} bytes, more than ${max} allowed`)
  const chunks: Buffer[] = []
  for await (const chunk of entry.body) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Hashes bytes that need not be stored (the cache has them): they must still match. */
async function verifyOnly(source: AsyncIterable<Buffer> | Buffer[], digest: string, size: number): Promise<void> {
  const hash = createDigester(parseDigest(digest).algorithm)
  let count = 0
  await pipeline(
    Readable.from(source),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        count += chunk.length
        callback()
      },
    }),
  )
  const actual = `${parseDigest(digest).algorithm}:${hash.digest('hex')}`
  if (actual !== digest || count !== size) {
    throw new UpstreamContentError(`${digest}: content hashes to ${actual}, ${count} bytes`)
  }
}

/** Bytes that do not verify are a damaged bundle; a stream that breaks off is a cut one. */
function damaged(name: string, e: unknown): Error {
  if (e instanceof OperatorError) return e
  if (e instanceof DiskFullError) return new OperatorError(`the cache dir is full: ${e.message}`)
  const why = messageOf(e)
  if (e instanceof UpstreamContentError) {
    return new BundleError(`${name} does not match its digest: the bundle is damaged or was altered (${why})`)
  }
  return new BundleError(`the bundle breaks off in ${name} (cut short, or not a tar): ${why}`)
}

/** The bundle description our bundles name in registry-mirror.json (read before the blobs). */
function describedBy(files: Map<string, Buffer>): string | undefined {
  return parseRecord(markerSchema, files.get(MARKER_FILE)?.toString('utf8'))?.bundle
}

/** Our bundle's description: verified and kept for the checks, never stored in the cache. */
async function description(entry: BundleEntry, digest: string): Promise<ReceivedBlob> {
  const body = await readAll(entry, MANIFEST_MAX_BYTES)
  await verifyOnly([body], digest, entry.size).catch((e: unknown) => {
    throw damaged(entry.name, e)
  })
  return { digest, size: body.length, present: false, description: true, read: async () => body }
}

/**
 * Reads a bundle's entries as they stream in, blobs in any order: the layout files are
 * kept, each blob is verified against its digest and size on the way — into the store's
 * temp files through its writer, or hashed only when the cache already has it — and
 * nothing is committed. A blob that does not verify refuses the whole bundle.
 */
export async function receiveBundle(
  entries: AsyncIterable<BundleEntry>,
  store: BlobStore,
  upstream: string,
): Promise<ReceivedBundle> {
  const files = new Map<string, Buffer>()
  const blobs = new Map<string, ReceivedBlob>()
  const pending: BlobWriter[] = []
  const commitOldest = async () => {
    await pending.shift()?.commit()
  }
  const received: ReceivedBundle = {
    files,
    blobs,
    commit: async () => {
      while (pending.length > 0) await commitOldest()
    },
    abort: async () => {
      await Promise.all(pending.splice(0).map((w) => w.abort()))
    },
  }
  try {
    for await (const entry of entries) {
      const max = LAYOUT_FILE_MAX_BYTES[entry.name]
      const digest = digestOfEntry(entry.name)
      if (max !== undefined) files.set(entry.name, await readAll(entry, max))
      else if (digest === undefined) entry.skip()
      else if (digest === describedBy(files)) blobs.set(digest, await description(entry, digest))
      else if (blobs.has(digest)) {
        // The same blob twice: the bytes must still be right.
        await verifyOnly(entry.body, digest, entry.size).catch((e: unknown) => {
          throw damaged(entry.name, e)
        })
      } else {
        const blob = await receiveBlob(entry, digest, store, upstream, pending).catch((e: unknown) => {
          throw damaged(entry.name, e)
        })
        blobs.set(digest, blob)
        if (pending.length > MAX_PENDING) await commitOldest()
      }
    }
    return received
  } catch (e) {
    await received.abort()
    throw e
  }
}

async function receiveBlob(
  entry: BundleEntry,
  digest: string,
  store: BlobStore,
  upstream: string,
  pending: BlobWriter[],
): Promise<ReceivedBlob> {
  // Small blobs are read whole first: a manifest's type must be known before it is
  // written (the store keeps it beside the bytes), and only its bytes tell it.
  const body = entry.size <= MANIFEST_MAX_BYTES ? await readAll(entry, MANIFEST_MAX_BYTES) : undefined
  const mediaType = body === undefined ? undefined : sniffManifestType(body)
  const source = body === undefined ? entry.body : [body]
  // Manifests are kept in memory for the checks that follow; other blobs are read back.
  const kept = mediaType === undefined ? undefined : body
  const stored = await store.stat(digest)
  if (stored !== undefined) {
    await verifyOnly(source, digest, entry.size)
    const read = async () => kept ?? (await store.read(digest)) ?? Buffer.alloc(0)
    return { digest, size: entry.size, mediaType, present: true, read }
  }
  const writer = await store.createWriter({
    digest,
    size: entry.size,
    ...(mediaType === undefined ? {} : { mediaType, upstream }),
  })
  try {
    await pipeline(Readable.from(source), writer)
  } catch (e) {
    await writer.abort()
    throw e
  }
  pending.push(writer)
  const read = async () => kept ?? (await readFile(writer.tempPath).catch(() => readFile(writer.finalPath)))
  return { digest, size: entry.size, mediaType, present: false, read }
}
