import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { z } from 'zod'
import type { BlobRecord } from './cache-index.js'
import type { BlobTable } from './blob-table.js'
import { parseRecord } from './records.js'

/**
 * The embedded index's blob records in one binary file, written at a clean shutdown so
 * the next start loads them (a second or so for a million) instead of walking the cache
 * dir. Layout: magic, a JSON header (record count, string tables, the few records whose
 * digest is not sha256), then one fixed-size row per record, then the sha256 of all
 * before it, which is also the snapshot's token: the clean-shutdown marker names it.
 */
const MAGIC = Buffer.from('RMIDX\0\0\x01')
const DIGEST = 32
/** digest, size (f64), last access (f64), upstream id (u16), media type id + 1 or 0 (u16). */
const ROW = DIGEST + 8 + 8 + 2 + 2
const TRAILER = 32

const headerSchema = z.object({
  count: z.number().int().nonnegative(),
  upstreams: z.array(z.string()),
  mediaTypes: z.array(z.string()),
  others: z.array(
    z.object({
      digest: z.string(),
      size: z.number(),
      mediaType: z.string().optional(),
      upstream: z.string(),
      lastAccess: z.number(),
    }),
  ),
})

export interface SnapshotRows {
  count: number
  /** Calls `add` for each row, in batches, waiting on `pause` between them. */
  read(add: (row: SnapshotRow) => void, pause: () => Promise<void>): Promise<void>
  others: BlobRecord[]
}

/** One row, its digest as bytes at `offset` of `digest` (valid only during the call). */
export interface SnapshotRow {
  digest: Buffer
  offset: number
  size: number
  lastAccess: number
  upstream: string
  mediaType: string | undefined
}

export function encodeSnapshot(table: BlobTable): { bytes: Buffer; token: string } {
  const upstreams = new Map<string, number>()
  const mediaTypes = new Map<string, number>()
  const intern = (map: Map<string, number>, value: string) => {
    let id = map.get(value)
    if (id === undefined) map.set(value, (id = map.size))
    return id
  }
  const others: BlobRecord[] = []
  const rows = Buffer.alloc(table.count * ROW)
  let at = 0
  for (let id = 0; id < table.end; id++) {
    if (!table.isLive(id)) continue
    const digest = table.binaryDigest(id)
    const mediaType = table.mediaTypeOf(id)
    if (digest === undefined) {
      others.push({
        digest: table.digestOf(id),
        size: table.sizes[id]!,
        ...(mediaType === undefined ? {} : { mediaType }),
        upstream: table.upstreamOf(id),
        lastAccess: table.access[id]!,
      })
      continue
    }
    digest.copy(rows, at)
    rows.writeDoubleLE(table.sizes[id]!, at + DIGEST)
    rows.writeDoubleLE(table.access[id]!, at + DIGEST + 8)
    rows.writeUInt16LE(intern(upstreams, table.upstreamOf(id)), at + DIGEST + 16)
    rows.writeUInt16LE(mediaType === undefined ? 0 : intern(mediaTypes, mediaType) + 1, at + DIGEST + 18)
    at += ROW
  }
  const header = Buffer.from(
    JSON.stringify({ count: at / ROW, upstreams: [...upstreams.keys()], mediaTypes: [...mediaTypes.keys()], others }),
  )
  const length = Buffer.alloc(4)
  length.writeUInt32LE(header.length)
  const body = Buffer.concat([MAGIC, length, header, rows.subarray(0, at)])
  const hash = createHash('sha256').update(body).digest()
  return { bytes: Buffer.concat([body, hash]), token: hash.toString('hex') }
}

/**
 * The rows of the snapshot at `path` if its token is `token` and it is whole; undefined
 * otherwise. Read in chunks, twice (the hash first, then the rows): a million records are
 * 52 MB, which would otherwise sit in memory as one buffer until a collection.
 */
export async function openSnapshot(path: string, token: string): Promise<SnapshotRows | undefined> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return undefined
  try {
    const { size } = await handle.stat()
    const head = Buffer.alloc(MAGIC.length + 4)
    if (size < head.length + TRAILER || (await readAt(handle, head, 0)) < head.length) return undefined
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
    const trailer = Buffer.alloc(TRAILER)
    await readAt(handle, trailer, size - TRAILER)
    if (trailer.toString('hex') !== token || (await hashOf(handle, size - TRAILER)) !== token) return undefined
    const headerBytes = Buffer.alloc(head.readUInt32LE(MAGIC.length))
    await readAt(handle, headerBytes, head.length)
    const header = parseRecord(headerSchema, headerBytes.toString('utf8'))
    const start = head.length + headerBytes.length
    if (header === undefined || size - TRAILER - start !== header.count * ROW) return undefined
    return {
      count: header.count + header.others.length,
      others: header.others,
      read: (add, pause) => readRows(handle, start, header, add, pause).finally(() => handle.close()),
    }
  } catch (e) {
    await handle.close()
    throw e
  }
}

/** Chunks of this many rows are read at a time (1 MB), then requests get a turn. */
const ROWS_PER_CHUNK = 20_000

async function readRows(
  handle: FileHandle,
  start: number,
  header: z.infer<typeof headerSchema>,
  add: (row: SnapshotRow) => void,
  pause: () => Promise<void>,
): Promise<void> {
  const chunk = Buffer.alloc(ROWS_PER_CHUNK * ROW)
  const row: SnapshotRow = { digest: chunk, offset: 0, size: 0, lastAccess: 0, upstream: '', mediaType: undefined }
  for (let first = 0; first < header.count; first += ROWS_PER_CHUNK) {
    const rows = Math.min(ROWS_PER_CHUNK, header.count - first)
    await readAt(handle, chunk.subarray(0, rows * ROW), start + first * ROW)
    for (let n = 0; n < rows; n++) {
      const at = n * ROW
      row.offset = at
      row.size = chunk.readDoubleLE(at + DIGEST)
      row.lastAccess = chunk.readDoubleLE(at + DIGEST + 8)
      row.upstream = header.upstreams[chunk.readUInt16LE(at + DIGEST + 16)] ?? ''
      const media = chunk.readUInt16LE(at + DIGEST + 18)
      row.mediaType = media === 0 ? undefined : header.mediaTypes[media - 1]
      add(row)
    }
    await pause()
  }
}

async function hashOf(handle: FileHandle, length: number): Promise<string> {
  const hash = createHash('sha256')
  const chunk = Buffer.alloc(ROWS_PER_CHUNK * ROW)
  for (let at = 0; at < length; at += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, length - at))
    await readAt(handle, part, at)
    hash.update(part)
  }
  return hash.digest('hex')
}

/** Fills `buffer` from `position`; resolves with the bytes read (fewer only at the end of the file). */
async function readAt(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled
}
