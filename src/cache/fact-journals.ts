import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  parseTagKeyString,
  tagEntries,
  tagKeyString,
  type Index,
  type TagKey,
  type TagMapping,
  type TagRecord,
  type Verdict,
} from './cache-index.js'
import { Journal } from './journal.js'
import { TAG_BOUND, TAG_JOURNAL, VERDICT_BOUNDS, VERDICT_JOURNAL, verdictClass } from './records.js'

export const verdictKey = (upstream: string, repo: string) => `${upstream} ${repo}`

/** The index's facts that are not on disk as content: which digest a tag names, and who may pull what. */
export type Facts = Pick<
  Index,
  'getTag' | 'putTag' | 'deleteTag' | 'findTags' | 'deleteTags' | 'listTags' | 'getVerdict' | 'putVerdict'
>

/**
 * Tag mappings and verdicts in two journals in the index dir, bounded (see records.ts).
 * The embedded index keeps its facts here; a mirror on Redis keeps a copy of what it
 * learnt here too, for when Redis cannot answer (see write-through-index.ts).
 */
export class FactJournals implements Facts {
  /** The journals once replayed, for the peeks, which do not wait. */
  #tagsLoaded: Journal<TagRecord> | undefined
  #verdictsLoaded: Journal<Verdict> | undefined

  private constructor(
    private readonly tags: Promise<Journal<TagRecord>>,
    private readonly verdicts: Promise<Journal<Verdict>>,
  ) {
    tags.then((journal) => (this.#tagsLoaded = journal)).catch(() => {})
    verdicts.then((journal) => (this.#verdictsLoaded = journal)).catch(() => {})
  }

  /**
   * The journals are replayed in the background (40,000 tag mappings take a second on a
   * busy machine): a lookup waits for its journal.
   */
  static async open(dir: string, now?: () => number): Promise<FactJournals> {
    await mkdir(dir, { recursive: true })
    const verdicts = Journal.open(join(dir, 'verdicts.jsonl'), VERDICT_JOURNAL, {
      bounds: VERDICT_BOUNDS,
      classify: verdictClass,
      now,
    })
    const tags = verdicts.then(() => Journal.open(join(dir, 'tags.jsonl'), TAG_JOURNAL, { bounds: [TAG_BOUND], now }))
    // A journal that cannot be read fails each lookup (the facts are unavailable), not the process.
    for (const journal of [verdicts, tags]) journal.catch(() => {})
    return new FactJournals(tags, verdicts)
  }

  async getTag(key: TagKey): Promise<TagRecord | undefined> {
    const record = (await this.tags).get(tagKeyString(key))
    return record === undefined ? undefined : { ...record }
  }

  peekTag(key: TagKey): Readonly<TagRecord> | undefined {
    return this.#tagsLoaded?.get(tagKeyString(key))
  }

  async putTag(key: TagKey, record: TagRecord): Promise<void> {
    await (await this.tags).put(tagKeyString(key), { ...record })
  }

  async deleteTag(key: TagKey): Promise<void> {
    await (await this.tags).delete(tagKeyString(key))
  }

  async findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]> {
    return tagEntries((await this.tags).entries(), { upstream, repo, tag }).map(([, r]) => ({ ...r }))
  }

  async *listTags(): AsyncIterable<TagMapping> {
    yield* mappingsOf((await this.tags).entries())
  }

  async deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    const tags = await this.tags
    for (const [key] of tagEntries(tags.entries(), { upstream, repo, tag })) await tags.delete(key)
  }

  async getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    const verdict = (await this.verdicts).get(verdictKey(upstream, repo))
    return verdict === undefined ? undefined : { ...verdict }
  }

  peekVerdict(upstream: string, repo: string): Readonly<Verdict> | undefined {
    return this.#verdictsLoaded?.get(verdictKey(upstream, repo))
  }

  async putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    await (await this.verdicts).put(verdictKey(upstream, repo), { ...verdict })
  }

  async close(): Promise<void> {
    await (await this.tags).close()
    await (await this.verdicts).close()
  }
}

/** A journal's entries as mappings; keys were checked when the journal was read. */
export function* mappingsOf(entries: Iterable<[string, TagRecord]>): Iterable<TagMapping> {
  for (const [text, record] of [...entries]) {
    const key = parseTagKeyString(text)
    if (key !== undefined) yield { key, record: { ...record } }
  }
}
