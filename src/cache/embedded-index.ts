import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BlobRecord, Index, IndexStats, TagKey, TagRecord } from './cache-index.js'
import { parseTagKeyString, tagKeyString } from './cache-index.js'

const COMPACT_MIN_LINES = 10_000
const COMPACT_FACTOR = 4

interface JournalEntry {
  k: string
  r?: TagRecord
}

/**
 * The zero-set-up index: records in memory. Blob records are rebuilt from the cache dir
 * at start-up (see reconcile); tag mappings are not on disk as content, so they go to an
 * append-only journal, replayed and compacted at open. Without it, a restarted mirror in
 * an air-gapped site could no longer resolve any tag.
 */
export class EmbeddedIndex implements Index {
  private readonly blobs = new Map<string, BlobRecord>()
  private readonly tags = new Map<string, TagRecord>()
  private bytes = 0
  private readonly journalPath: string
  /** Appends run one after another so the journal keeps their order. */
  private journal: Promise<void> = Promise.resolve()
  private appended = 0

  private constructor(dir: string) {
    this.journalPath = join(dir, 'tags.jsonl')
  }

  /** `dir` holds the index's own files (inside the cache dir). */
  static async open(dir: string): Promise<EmbeddedIndex> {
    const index = new EmbeddedIndex(dir)
    await mkdir(dir, { recursive: true })
    await index.replay()
    return index
  }

  private async replay(): Promise<void> {
    let text = ''
    try {
      text = await readFile(this.journalPath, 'utf8')
    } catch {
      return
    }
    for (const line of text.split('\n')) {
      // A crash mid-append leaves a torn last line: it is skipped, the rest stands.
      const entry = parseLine(line)
      if (entry === undefined) continue
      if (entry.r === undefined) this.tags.delete(entry.k)
      else this.tags.set(entry.k, entry.r)
    }
    await this.compact()
  }

  private async compact(): Promise<void> {
    const compacted = [...this.tags].map(([k, r]) => JSON.stringify({ k, r }) + '\n').join('')
    const temp = `${this.journalPath}.${process.pid}.tmp`
    await writeFile(temp, compacted)
    await rename(temp, this.journalPath)
    this.appended = 0
  }

  private append(entry: JournalEntry): Promise<void> {
    const line = JSON.stringify(entry) + '\n'
    const next = this.journal
      .catch(() => {})
      .then(async () => {
        await appendFile(this.journalPath, line)
        // Re-checks append a line per tag per TTL: rewrite the journal before it dwarfs the map.
        if (++this.appended > Math.max(COMPACT_MIN_LINES, COMPACT_FACTOR * this.tags.size)) {
          await this.compact()
        }
      })
    this.journal = next
    return next
  }

  async getBlob(digest: string): Promise<BlobRecord | undefined> {
    const record = this.blobs.get(digest)
    return record === undefined ? undefined : { ...record }
  }

  async putBlob(record: BlobRecord): Promise<void> {
    const previous = this.blobs.get(record.digest)
    this.bytes += record.size - (previous?.size ?? 0)
    this.blobs.set(record.digest, { ...record })
  }

  async deleteBlob(digest: string): Promise<void> {
    const previous = this.blobs.get(digest)
    if (previous === undefined) return
    this.bytes -= previous.size
    this.blobs.delete(digest)
  }

  touchBlob(digest: string, at: number): void {
    const record = this.blobs.get(digest)
    if (record !== undefined && record.lastAccess < at) record.lastAccess = at
  }

  async *listBlobs(): AsyncIterable<BlobRecord> {
    for (const record of [...this.blobs.values()]) yield { ...record }
  }

  async getTag(key: TagKey): Promise<TagRecord | undefined> {
    const record = this.tags.get(tagKeyString(key))
    return record === undefined ? undefined : { ...record }
  }

  async putTag(key: TagKey, record: TagRecord): Promise<void> {
    const k = tagKeyString(key)
    this.tags.set(k, { ...record })
    await this.append({ k, r: record })
  }

  async deleteTag(key: TagKey): Promise<void> {
    const k = tagKeyString(key)
    if (!this.tags.delete(k)) return
    await this.append({ k })
  }

  async stats(): Promise<IndexStats> {
    return { blobs: this.blobs.size, bytes: this.bytes }
  }

  async close(): Promise<void> {
    await this.journal.catch(() => {})
  }
}

function parseLine(line: string): JournalEntry | undefined {
  if (line.trim() === '') return undefined
  try {
    const entry = JSON.parse(line) as JournalEntry
    if (typeof entry.k !== 'string' || parseTagKeyString(entry.k) === undefined) return undefined
    const r = entry.r
    if (r === undefined) return { k: entry.k }
    const valid =
      typeof r.digest === 'string' &&
      typeof r.mediaType === 'string' &&
      typeof r.size === 'number' &&
      typeof r.checkedAt === 'number'
    return valid ? entry : undefined
  } catch {
    return undefined
  }
}
