/**
 * The index: facts about what the cache holds, kept apart from the bytes. The embedded
 * index and the Redis index implement this one interface and pass one contract suite.
 */

export interface BlobRecord {
  digest: string
  size: number
  /** Set for manifests. */
  mediaType?: string
  /** Registry host the content was fetched from. */
  upstream: string
  /** Milliseconds since the epoch. */
  lastAccess: number
}

/** A tag as one kind of client sees it on one upstream. */
export interface TagKey {
  upstream: string
  repo: string
  tag: string
  /** What the client accepts (see acceptKey): the same tag may name a list or a manifest. */
  accept: string
}

/** A tag mapping with its key, as listTags yields them. */
export interface TagMapping {
  key: TagKey
  record: TagRecord
}

export interface TagRecord {
  digest: string
  mediaType: string
  size: number
  /** When the upstream last confirmed this mapping, in milliseconds since the epoch. */
  checkedAt: number
}

/** Whether anonymous clients may pull a repository upstream, as last checked. */
export interface Verdict {
  isPublic: boolean
  /** When the mirror checked, in milliseconds since the epoch. */
  checkedAt: number
}

export interface Pin {
  image: string
  digests: string[]
}

/** Manifests are evicted after every other blob: each is small and names many. */
export type RecordKind = 'blob' | 'manifest'

export interface IndexStats {
  blobs: number
  bytes: number
}

export interface Index {
  getBlob(digest: string): Promise<BlobRecord | undefined>
  putBlob(record: BlobRecord): Promise<void>
  /**
   * Adds records for blobs the index does not hold yet, leaving those it holds as they are
   * (what start-up learns from the disk never overrides what a request recorded since).
   * Resolves with how many were added.
   */
  addBlobs(records: BlobRecord[]): Promise<number>
  deleteBlob(digest: string): Promise<void>
  /** Records a read for eviction order. Cheap and fire-and-forget: it may be batched. */
  touchBlob(digest: string, at: number): void
  listBlobs(): AsyncIterable<BlobRecord>
  /**
   * Records of one kind in eviction order, least recently used first (ties by digest).
   * The consumer may delete what it is given as it goes and stop at any point; records
   * added, touched or deleted meanwhile are seen in their new place or not at all, except
   * within what an implementation reads ahead (Redis: a page of a few hundred).
   */
  leastRecentlyUsed(kind: RecordKind): AsyncIterable<BlobRecord>
  getTag(key: TagKey): Promise<TagRecord | undefined>
  putTag(key: TagKey, record: TagRecord): Promise<void>
  deleteTag(key: TagKey): Promise<void>
  /** Every mapping of one tag, whatever the clients accepted. */
  findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]>
  /** Every tag mapping, in no particular order: what the cache holds by name. */
  listTags(): AsyncIterable<TagMapping>
  /** Forgets every mapping of one tag, whatever the clients accepted (the tag was pushed or deleted). */
  deleteTags(upstream: string, repo: string, tag: string): Promise<void>
  getVerdict(upstream: string, repo: string): Promise<Verdict | undefined>
  putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void>
  /** Marks an image's digests as never evicted; pinning an image again replaces its set. */
  pin(image: string, digests: string[]): Promise<void>
  /** False when the image was not pinned. */
  unpin(image: string): Promise<boolean>
  pins(): Promise<Pin[]>
  stats(): Promise<IndexStats>
  /**
   * At a clean shutdown: keeps what a restart needs to skip walking the cache dir, and
   * returns a token naming it (the embedded index writes a snapshot of its records; Redis
   * keeps them anyway, and the token names its data set). Rejects when it cannot.
   */
  saveState(): Promise<string>
  /**
   * Room for this many blob records, when the index keeps them in memory: sized once
   * before a walk, its tables do not grow by steps, each leaving the last as garbage.
   */
  reserve?(records: number): void
  /**
   * At start: true when the state `token` names is back in place (the snapshot loaded,
   * the same Redis data set), so the blob records are as at the clean shutdown; false
   * when the cache dir must be walked instead. `pause` is awaited between batches.
   */
  restoreState(token: string, pause: () => Promise<void>): Promise<boolean>
  /** Resolves when the index answers; rejects when it cannot be reached. */
  ping(): Promise<void>
  /**
   * The peeks answer at once from what this process holds, and only an index whose memory
   * is the truth has them (the embedded one; Redis may hold newer facts another replica
   * wrote). Undefined when the record is absent or not loaded yet. Each has the effects
   * of the lookup it stands for (a tag or verdict read counts as a use).
   */
  peekBlob?(digest: string): Readonly<BlobRecord> | undefined
  peekTag?(key: TagKey): Readonly<TagRecord> | undefined
  peekVerdict?(upstream: string, repo: string): Readonly<Verdict> | undefined
  /** Flushes what is batched and releases connections and files. */
  close(): Promise<void>
}

/**
 * What a command run beside a live mirror uses of the index: it reads, and writes only
 * pins (which are made to take writes from another process).
 */
export type IndexBeside = Pick<
  Index,
  'getBlob' | 'findTags' | 'listTags' | 'getVerdict' | 'pin' | 'unpin' | 'pins' | 'close'
>

/** One string per tag key, for maps and persistence. Fields cannot contain a space. */
export function tagKeyString(key: TagKey): string {
  return `${key.upstream} ${key.repo} ${key.tag} ${key.accept}`
}

/** The mappings of one tag, whatever the clients accepted, from entries keyed by tagKeyString. */
export function tagEntries<T>(entries: Iterable<[string, T]>, key: Omit<TagKey, 'accept'>): Array<[string, T]> {
  const prefix = `${key.upstream} ${key.repo} ${key.tag} `
  return [...entries].filter(([k]) => k.startsWith(prefix))
}

export function parseTagKeyString(value: string): TagKey | undefined {
  const [upstream, repo, tag, accept, ...rest] = value.split(' ')
  if (upstream === undefined || repo === undefined || tag === undefined || accept === undefined || rest.length > 0) {
    return undefined
  }
  return { upstream, repo, tag, accept }
}
