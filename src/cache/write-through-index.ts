import type {
  BlobRecord,
  Index,
  IndexStats,
  Pin,
  RecordKind,
  TagKey,
  TagMapping,
  TagRecord,
  Verdict,
} from './cache-index.js'
import type { Facts, FactJournals } from './fact-journals.js'

/**
 * A shared index (Redis) with a local copy of the facts this replica learnt: tag mappings
 * and verdicts, written through to journals in its own cache dir. Redis stays the shared
 * truth while it answers; when it cannot (down, or restarted empty), the copy does, so a
 * replica keeps serving by tag, with its upstream down too, every image it served before.
 * Blob records need no copy: the disk holds them (see reconcile).
 *
 * A mapping another replica changed is seen here in Redis; one it forgot (a tag pushed
 * through it) may still be found in this copy, until its TTL sends it upstream again.
 */
export class WriteThroughIndex implements Index {
  constructor(
    private readonly shared: Index,
    private readonly local: FactJournals,
  ) {}

  getBlob(digest: string): Promise<BlobRecord | undefined> {
    return this.shared.getBlob(digest)
  }

  putBlob(record: BlobRecord): Promise<void> {
    return this.shared.putBlob(record)
  }

  addBlobs(records: BlobRecord[]): Promise<number> {
    return this.shared.addBlobs(records)
  }

  deleteBlob(digest: string): Promise<void> {
    return this.shared.deleteBlob(digest)
  }

  touchBlob(digest: string, at: number): void {
    this.shared.touchBlob(digest, at)
  }

  listBlobs(): AsyncIterable<BlobRecord> {
    return this.shared.listBlobs()
  }

  leastRecentlyUsed(kind: RecordKind): AsyncIterable<BlobRecord> {
    return this.shared.leastRecentlyUsed(kind)
  }

  getTag(key: TagKey): Promise<TagRecord | undefined> {
    return this.read((facts) => facts.getTag(key))
  }

  putTag(key: TagKey, record: TagRecord): Promise<void> {
    return this.write((facts) => facts.putTag(key, record))
  }

  deleteTag(key: TagKey): Promise<void> {
    return this.write((facts) => facts.deleteTag(key))
  }

  findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]> {
    return this.shared.findTags(upstream, repo, tag)
  }

  /** What the shared index holds: the listing is of the cache all replicas share. */
  listTags(): AsyncIterable<TagMapping> {
    return this.shared.listTags()
  }

  deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    return this.write((facts) => facts.deleteTags(upstream, repo, tag))
  }

  getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    return this.read((facts) => facts.getVerdict(upstream, repo))
  }

  putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    return this.write((facts) => facts.putVerdict(upstream, repo, verdict))
  }

  pin(image: string, digests: string[]): Promise<void> {
    return this.shared.pin(image, digests)
  }

  unpin(image: string): Promise<boolean> {
    return this.shared.unpin(image)
  }

  pins(): Promise<Pin[]> {
    return this.shared.pins()
  }

  stats(): Promise<IndexStats> {
    return this.shared.stats()
  }

  saveState(): Promise<string> {
    return this.shared.saveState()
  }

  restoreState(token: string, pause: () => Promise<void>): Promise<boolean> {
    return this.shared.restoreState(token, pause)
  }

  ping(): Promise<void> {
    return this.shared.ping()
  }

  async close(): Promise<void> {
    await this.local.close().catch(() => {})
    await this.shared.close()
  }

  /** Redis's answer; the copy's when Redis has none or cannot give one (then Redis's failure is not news). */
  private async read<T>(get: (facts: Facts) => Promise<T | undefined>): Promise<T | undefined> {
    let shared: T | undefined
    try {
      shared = await get(this.shared)
    } catch (e) {
      const local = await get(this.local).catch(() => undefined)
      if (local === undefined) throw e
      return local
    }
    return shared ?? (await get(this.local).catch(() => undefined))
  }

  /** To both; the caller hears of Redis's failure only (the copy is a copy). */
  private async write(put: (facts: Facts) => Promise<void>): Promise<void> {
    const [, shared] = await Promise.allSettled([put(this.local), put(this.shared)])
    if (shared.status === 'rejected') throw shared.reason
  }
}
