import { join } from 'node:path'
import { AccessHeap } from './access-heap.js'
import { encodeSnapshot, openSnapshot, type SnapshotRow } from './blob-snapshot.js'
import { BlobTable } from './blob-table.js'
import type {
  BlobRecord,
  Index,
  IndexBeside,
  IndexStats,
  Pin,
  RecordKind,
  TagKey,
  TagMapping,
  TagRecord,
  Verdict,
} from './cache-index.js'
import { tagEntries } from './cache-index.js'
import { replaceFile } from './durable-file.js'
import { FactJournals, mappingsOf, verdictKey } from './fact-journals.js'
import { Journal } from './journal.js'
import { PinFile } from './pin-file.js'
import { TAG_JOURNAL, VERDICT_JOURNAL } from './records.js'
const SNAPSHOT_FILE = 'blobs.snapshot'

export interface EmbeddedIndexOptions {
  /** The clock the tag and verdict bounds measure "unused" by. */
  now?: () => number
}

/**
 * The zero-set-up index: records in memory, packed (see BlobTable), with the eviction
 * order in one heap per kind. Blob records are rebuilt from the cache dir after a crash
 * (see reconcile) and loaded from a snapshot after a clean shutdown; tag mappings and
 * verdicts are not on disk as content, so they go to journals, replayed at open. Without
 * them a restarted mirror in an air-gapped site could no longer resolve a tag or know a
 * repository was public.
 */
export class EmbeddedIndex implements Index {
  private readonly table = new BlobTable()
  private readonly order: Record<RecordKind, AccessHeap>
  private bytes = 0

  private constructor(
    private readonly dir: string,
    private readonly facts: FactJournals,
    private readonly pinned: PinFile,
  ) {
    const before = (a: number, b: number) => {
      const x = this.table.access[a]!
      const y = this.table.access[b]!
      return x < y || (x === y && this.table.compareDigests(a, b) < 0)
    }
    this.order = { blob: new AccessHeap(before), manifest: new AccessHeap(before) }
  }

  /**
   * `dir` holds the index's own files (inside the cache dir). The journals are replayed in
   * the background (40,000 tag mappings take a second on a busy machine): the mirror
   * serves blobs meanwhile, and a tag or verdict lookup waits for its journal.
   */
  static async open(dir: string, options: EmbeddedIndexOptions = {}): Promise<EmbeddedIndex> {
    const facts = await FactJournals.open(dir, options.now)
    return new EmbeddedIndex(dir, facts, new PinFile(join(dir, 'pins.jsonl')))
  }

  /**
   * The index as a command run beside a live mirror sees it: tag mappings and verdicts as
   * the journals hold them now, read without writing a byte (the mirror owns the
   * journals); pins read and written, as the pin file takes appends from any process. No
   * blob records: the embedded index keeps those in memory only.
   */
  static async beside(dir: string): Promise<IndexBeside> {
    const tags = await Journal.snapshot(join(dir, 'tags.jsonl'), TAG_JOURNAL)
    const verdicts = await Journal.snapshot(join(dir, 'verdicts.jsonl'), VERDICT_JOURNAL)
    const pins = new PinFile(join(dir, 'pins.jsonl'))
    return {
      getBlob: async () => undefined,
      findTags: async (upstream, repo, tag) => tagEntries(tags, { upstream, repo, tag }).map(([, r]) => ({ ...r })),
      listTags: async function* () {
        yield* mappingsOf(tags)
      },
      getVerdict: async (upstream, repo) => {
        const verdict = verdicts.get(verdictKey(upstream, repo))
        return verdict === undefined ? undefined : { ...verdict }
      },
      pin: (image, digests) => pins.pin(image, digests),
      unpin: (image) => pins.unpin(image),
      pins: () => pins.pins(),
      close: async () => {},
    }
  }

  private kindOf(id: number): RecordKind {
    return this.table.isManifest(id) ? 'manifest' : 'blob'
  }

  private record(id: number, digest = this.table.digestOf(id)): BlobRecord {
    const mediaType = this.table.mediaTypeOf(id)
    return {
      digest,
      size: this.table.sizes[id]!,
      ...(mediaType === undefined ? {} : { mediaType }),
      upstream: this.table.upstreamOf(id),
      lastAccess: this.table.access[id]!,
    }
  }

  async getBlob(digest: string): Promise<BlobRecord | undefined> {
    return this.peekBlob(digest)
  }

  peekBlob(digest: string): BlobRecord | undefined {
    const id = this.table.find(digest)
    return id < 0 ? undefined : this.record(id, digest)
  }

  async putBlob(record: BlobRecord): Promise<void> {
    const id = this.table.find(record.digest)
    if (id < 0) {
      this.add(this.table.insert(record.digest), record)
      return
    }
    this.bytes += record.size - this.table.sizes[id]!
    const heap = this.order[this.kindOf(id)]
    const queued = heap.has(id)
    heap.remove(id)
    this.set(id, record)
    // A record taken out by an eviction pass in progress goes back when the pass ends.
    if (queued) this.order[this.kindOf(id)].push(id)
  }

  reserve(records: number): void {
    this.table.reserve(records)
  }

  async addBlobs(records: BlobRecord[]): Promise<number> {
    let added = 0
    for (const record of records) {
      const id = this.table.insertIfAbsent(record.digest)
      if (id < 0) continue
      this.add(id, record)
      added++
    }
    return added
  }

  private add(id: number, record: BlobRecord): void {
    this.set(id, record)
    this.bytes += record.size
    this.order[this.kindOf(id)].push(id)
  }

  private set(id: number, record: BlobRecord): void {
    this.table.sizes[id] = record.size
    this.table.access[id] = record.lastAccess
    this.table.setUpstream(id, record.upstream)
    this.table.setMediaType(id, record.mediaType)
  }

  async deleteBlob(digest: string): Promise<void> {
    const id = this.table.find(digest)
    if (id < 0) return
    this.bytes -= this.table.sizes[id]!
    this.order[this.kindOf(id)].remove(id)
    this.table.remove(id)
  }

  touchBlob(digest: string, at: number): void {
    const id = this.table.find(digest)
    if (id < 0 || this.table.access[id]! >= at) return
    this.table.access[id] = at
    this.order[this.kindOf(id)].update(id)
  }

  async *listBlobs(): AsyncIterable<BlobRecord> {
    for (let id = 0; id < this.table.end; id++) {
      if (this.table.isLive(id)) yield this.record(id)
    }
  }

  /**
   * Takes records off the heap as it yields them (O(log n) each); those the consumer
   * kept go back when it stops. Meanwhile they are still records: found, touched, deleted.
   */
  async *leastRecentlyUsed(kind: RecordKind): AsyncIterable<BlobRecord> {
    const heap = this.order[kind]
    const taken: Array<{ id: number; digest: string }> = []
    try {
      for (let id = heap.pop(); id >= 0; id = heap.pop()) {
        const record = this.record(id)
        taken.push({ id, digest: record.digest })
        yield record
      }
    } finally {
      for (const { id, digest } of taken) {
        // Still the same record (ids are reused), and not put back by a put meanwhile.
        if (this.table.find(digest) !== id) continue
        const own = this.order[this.kindOf(id)]
        if (!own.has(id)) own.push(id)
      }
    }
  }

  pin(image: string, digests: string[]): Promise<void> {
    return this.pinned.pin(image, digests)
  }

  unpin(image: string): Promise<boolean> {
    return this.pinned.unpin(image)
  }

  pins(): Promise<Pin[]> {
    return this.pinned.pins()
  }

  /** At start-up, when the pin file has grown well past its pins. */
  compactPins(): Promise<boolean> {
    return this.pinned.compact()
  }

  getTag(key: TagKey): Promise<TagRecord | undefined> {
    return this.facts.getTag(key)
  }

  peekTag(key: TagKey): Readonly<TagRecord> | undefined {
    return this.facts.peekTag(key)
  }

  peekVerdict(upstream: string, repo: string): Readonly<Verdict> | undefined {
    return this.facts.peekVerdict(upstream, repo)
  }

  putTag(key: TagKey, record: TagRecord): Promise<void> {
    return this.facts.putTag(key, record)
  }

  deleteTag(key: TagKey): Promise<void> {
    return this.facts.deleteTag(key)
  }

  findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]> {
    return this.facts.findTags(upstream, repo, tag)
  }

  listTags(): AsyncIterable<TagMapping> {
    return this.facts.listTags()
  }

  deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    return this.facts.deleteTags(upstream, repo, tag)
  }

  getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    return this.facts.getVerdict(upstream, repo)
  }

  putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    return this.facts.putVerdict(upstream, repo, verdict)
  }

  async stats(): Promise<IndexStats> {
    return { blobs: this.table.count, bytes: this.bytes }
  }

  async saveState(): Promise<string> {
    const { bytes, token } = encodeSnapshot(this.table)
    await replaceFile(join(this.dir, SNAPSHOT_FILE), bytes)
    return token
  }

  async restoreState(token: string, pause: () => Promise<void>): Promise<boolean> {
    const rows = await openSnapshot(join(this.dir, SNAPSHOT_FILE), token)
    if (rows === undefined) return false
    this.table.reserve(this.table.count + rows.count)
    await this.addBlobs(rows.others)
    const added: number[] = []
    await rows.read((row) => this.restoreRow(row, added), pause)
    // Into the eviction order at once, in O(n); those deleted or put again by requests
    // meanwhile are gone or in it already.
    const kinds: Record<RecordKind, number[]> = { blob: [], manifest: [] }
    for (const id of added) {
      const unordered = this.table.isLive(id) && !this.order.blob.has(id) && !this.order.manifest.has(id)
      if (unordered) kinds[this.kindOf(id)].push(id)
    }
    this.order.blob.pushAll(kinds.blob)
    this.order.manifest.pushAll(kinds.manifest)
    return true
  }

  /** A record as the snapshot has it, unless one was recorded since the start; not yet in the order. */
  private restoreRow(row: SnapshotRow, added: number[]): void {
    if (this.table.findBinary(row.digest, row.offset) >= 0) return
    const id = this.table.insertBinary(row.digest, row.offset)
    this.table.sizes[id] = row.size
    this.table.access[id] = row.lastAccess
    this.table.setUpstream(id, row.upstream)
    this.table.setMediaType(id, row.mediaType)
    this.bytes += row.size
    added.push(id)
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.facts.close()
  }
}
