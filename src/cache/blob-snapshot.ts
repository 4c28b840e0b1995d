import { createHash } from 'node:crypto'
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

const ROWS_PER_BATCH = 10_000

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

/** The rows of a snapshot whose token is `token`; undefined when it is not that, or not whole. */
export function decodeSnapshot(bytes: Buffer, token: string): SnapshotRows | undefined {
  if (bytes.length < MAGIC.length + 4 + TRAILER || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
  const body = bytes.subarray(0, bytes.length - TRAILER)
  const trailer = bytes.subarray(bytes.length - TRAILER).toString('hex')
  if (trailer !== token || createHash('sha256').update(body).digest('hex') !== token) return undefined
  const headerLength = bytes.readUInt32LE(MAGIC.length)
  const start = MAGIC.length + 4 + headerLength
  const header = parseRecord(headerSchema, body.toString('utf8', MAGIC.length + 4, start))
  if (header === undefined || body.length - start !== header.count * ROW) return undefined
  const row: SnapshotRow = { digest: body, offset: 0, size: 0, lastAccess: 0, upstream: '', mediaType: undefined }
  return {
    count: header.count + header.others.length,
    others: header.others,
    read: async (add, pause) => {
      for (let n = 0; n < header.count; n++) {
        const at = start + n * ROW
        row.offset = at
        row.size = body.readDoubleLE(at + DIGEST)
        row.lastAccess = body.readDoubleLE(at + DIGEST + 8)
        row.upstream = header.upstreams[body.readUInt16LE(at + DIGEST + 16)] ?? ''
        const media = body.readUInt16LE(at + DIGEST + 18)
        row.mediaType = media === 0 ? undefined : header.mediaTypes[media - 1]
        add(row)
        if ((n + 1) % ROWS_PER_BATCH === 0) await pause()
      }
    },
  }
}
