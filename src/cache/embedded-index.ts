import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type {
  BlobRecord,
  Index,
  IndexBeside,
  IndexStats,
  Pin,
  TagKey,
  TagMapping,
  TagRecord,
  Verdict,
} from './cache-index.js'
import { parseTagKeyString, tagKeyString } from './cache-index.js'
import { Journal } from './journal.js'
import { PinFile } from './pin-file.js'
import { TAG_JOURNAL, VERDICT_JOURNAL } from './records.js'

const verdictKey = (upstream: string, repo: string) => `${upstream} ${repo}`

/**
 * The zero-set-up index: records in memory. Blob records are rebuilt from the cache dir
 * at start-up (see reconcile); tag mappings and verdicts are not on disk as content, so
 * they go to journals, replayed at open. Without them a restarted mirror in an air-gapped
 * site could no longer resolve a tag or know a repository was public.
 */
export class EmbeddedIndex implements Index {
  private readonly blobs = new Map<string, BlobRecord>()
  private bytes = 0

  private constructor(
    private readonly tags: Journal<TagRecord>,
    private readonly verdicts: Journal<Verdict>,
    private readonly pinned: PinFile,
  ) {}

  /** `dir` holds the index's own files (inside the cache dir). */
  static async open(dir: string): Promise<EmbeddedIndex> {
    await mkdir(dir, { recursive: true })
    const tags = await Journal.open(join(dir, 'tags.jsonl'), TAG_JOURNAL)
    const verdicts = await Journal.open(join(dir, 'verdicts.jsonl'), VERDICT_JOURNAL)
    return new EmbeddedIndex(tags, verdicts, new PinFile(join(dir, 'pins.jsonl')))
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
      findTags: async (upstream, repo, tag) => {
        const prefix = `${upstream} ${repo} ${tag} `
        return [...tags].filter(([k]) => k.startsWith(prefix)).map(([, r]) => ({ ...r }))
      },
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

  async leastRecentlyUsed(skip: number, limit: number): Promise<BlobRecord[]> {
    return [...this.blobs.values()]
      .sort((a, b) => a.lastAccess - b.lastAccess || a.digest.localeCompare(b.digest))
      .slice(skip, skip + limit)
      .map((r) => ({ ...r }))
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

  async getTag(key: TagKey): Promise<TagRecord | undefined> {
    const record = this.tags.entries.get(tagKeyString(key))
    return record === undefined ? undefined : { ...record }
  }

  async putTag(key: TagKey, record: TagRecord): Promise<void> {
    await this.tags.put(tagKeyString(key), { ...record })
  }

  async deleteTag(key: TagKey): Promise<void> {
    await this.tags.delete(tagKeyString(key))
  }

  async findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]> {
    const prefix = `${upstream} ${repo} ${tag} `
    return [...this.tags.entries].filter(([k]) => k.startsWith(prefix)).map(([, r]) => ({ ...r }))
  }

  async *listTags(): AsyncIterable<TagMapping> {
    yield* mappingsOf(this.tags.entries)
  }

  async deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    const prefix = `${upstream} ${repo} ${tag} `
    const keys = [...this.tags.entries.keys()].filter((k) => k.startsWith(prefix))
    for (const key of keys) await this.tags.delete(key)
  }

  async getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    const verdict = this.verdicts.entries.get(verdictKey(upstream, repo))
    return verdict === undefined ? undefined : { ...verdict }
  }

  async putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    await this.verdicts.put(verdictKey(upstream, repo), { ...verdict })
  }

  async stats(): Promise<IndexStats> {
    return { blobs: this.blobs.size, bytes: this.bytes }
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.tags.flush()
    await this.verdicts.flush()
  }
}

/** The journal's entries as mappings; keys were checked when the journal was read. */
function* mappingsOf(entries: Map<string, TagRecord>): Iterable<TagMapping> {
  for (const [text, record] of [...entries]) {
    const key = parseTagKeyString(text)
    if (key !== undefined) yield { key, record: { ...record } }
  }
}
