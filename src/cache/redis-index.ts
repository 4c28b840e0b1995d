import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { z } from 'zod'
import { Cluster } from 'ioredis'
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
import { parseTagKeyString } from './cache-index.js'
import { silentLogger, type Logger } from '../logger.js'
import { parseRecord, pinDigestsSchema, tagRecordSchema } from './records.js'
import type { RedisClient } from './redis-connection.js'
import { RedisFacts } from './redis-facts.js'
import { ACCESS_PAGE, ADD_BLOBS, DELETE_BLOB, PUT_BLOB } from './redis-scripts.js'

/**
 * Reads served from process memory for this long: a cache hit costs no Redis round trip,
 * and another replica's update shows within this delay.
 */
const HOT_TTL_MS = 2000
const HOT_MAX_ENTRIES = 10_000
/** Touches are gathered and written in one command this often. */
const TOUCH_FLUSH_MS = 1000
const SCAN_BATCH = 500
/** Records added in one script: a few milliseconds of Redis's time, well within the command timeout. */
const ADD_BATCH = 500

type IndexRedis = RedisClient & {
  putBlob(blob: string, access: string, stats: string, holders: string, ...args: string[]): Promise<number>
  deleteBlob(blob: string, access: string, stats: string, holders: string, ...args: string[]): Promise<number>
  addBlobs(numberOfKeys: number, ...keysAndArgs: string[]): Promise<number>
  accessPage(access: string, score: string, digest: string, limit: string): Promise<string[]>
}

function toRecord(digest: string, fields: Record<string, string>, score: string | null): BlobRecord | undefined {
  if (fields.size === undefined) return undefined
  return {
    digest,
    size: Number(fields.size),
    ...(fields.mediaType === undefined ? {} : { mediaType: fields.mediaType }),
    upstream: fields.upstream ?? '',
    lastAccess: Number(score ?? 0),
  }
}

/**
 * The index in Redis, shared by replicas. What a blob is (its size, media type) is shared;
 * which replica holds it, in what access order, and how many bytes each replica holds
 * are per replica (each has its own cache dir). Every key sits under the prefix and one
 * hash tag (`{idx}`), so multi-key updates work on Redis Cluster too; they run as Lua
 * scripts, so records never disagree after a crash.
 */
export class RedisIndex implements Index {
  private readonly redis: IndexRedis
  private readonly base: string
  private readonly hot = new LRUCache<string, { value: unknown }>({ max: HOT_MAX_ENTRIES, ttl: HOT_TTL_MS })
  private touches = new Map<string, number>()
  private readonly timer: NodeJS.Timeout
  private readonly facts: RedisFacts

  /** `replica` names this mirror among those sharing the Redis; one alone uses any name. */
  constructor(
    client: RedisClient,
    prefix: string,
    private readonly replica = 'local',
    private readonly log: Logger = silentLogger,
  ) {
    client.defineCommand('putBlob', { numberOfKeys: 4, lua: PUT_BLOB })
    client.defineCommand('deleteBlob', { numberOfKeys: 4, lua: DELETE_BLOB })
    client.defineCommand('addBlobs', { lua: ADD_BLOBS })
    client.defineCommand('accessPage', { numberOfKeys: 1, lua: ACCESS_PAGE })
    this.redis = client as IndexRedis
    this.base = `${prefix}{idx}:`
    this.facts = new RedisFacts({
      redis: this.redis,
      key: (...parts) => this.key(...parts),
      cached: (key, read) => this.cached(key, read),
      forget: (key) => this.hot.delete(key),
      parse: (schema, key, text) => this.parse(schema, key, text),
    })
    // After an outage Redis may hold less than before (a restart without persistence,
    // a FLUSHALL): nothing read before it is trusted after.
    client.on('ready', () => this.hot.clear())
    this.timer = setInterval(() => {
      this.flushTouches().catch(() => {})
    }, TOUCH_FLUSH_MS)
    this.timer.unref()
  }

  private key(...parts: string[]): string {
    return this.base + parts.join(':')
  }

  private get access(): string {
    return this.key('access', this.replica)
  }

  private get statsKey(): string {
    return this.key('stats', this.replica)
  }

  private holdersKey(digest: string): string {
    return this.key('holders', digest)
  }

  /** A read through the in-process cache. */
  private async cached<T>(key: string, read: () => Promise<T>): Promise<T> {
    const hit = this.hot.get(key)
    if (hit !== undefined) return structuredClone(hit.value) as T
    const value = await read()
    this.hot.set(key, { value: structuredClone(value) })
    return value
  }

  /** The record of a blob this replica holds. */
  async getBlob(digest: string): Promise<BlobRecord | undefined> {
    return this.cached(`blob ${digest}`, async () => {
      const result = await this.redis.multi().hgetall(this.key('blob', digest)).zscore(this.access, digest).exec()
      const [[, fields] = [], [, score] = []] = result ?? []
      if (score === null || score === undefined) return undefined
      return toRecord(digest, (fields ?? {}) as Record<string, string>, score as string)
    })
  }

  /** The replicas that hold a blob, this one included. */
  async holders(digest: string): Promise<string[]> {
    return this.redis.smembers(this.holdersKey(digest))
  }

  async putBlob(record: BlobRecord): Promise<void> {
    this.hot.delete(`blob ${record.digest}`)
    await this.redis.putBlob(
      this.key('blob', record.digest),
      this.access,
      this.statsKey,
      this.holdersKey(record.digest),
      record.digest,
      String(record.size),
      record.mediaType ?? '',
      record.upstream,
      String(record.lastAccess),
      this.replica,
    )
  }

  async addBlobs(records: BlobRecord[]): Promise<number> {
    let added = 0
    for (let at = 0; at < records.length; at += ADD_BATCH) {
      const batch = records.slice(at, at + ADD_BATCH)
      for (const record of batch) this.hot.delete(`blob ${record.digest}`)
      const keys = batch.flatMap((r) => [this.key('blob', r.digest), this.holdersKey(r.digest)])
      const args = batch.flatMap((r) => [r.digest, String(r.size), r.mediaType ?? '', r.upstream, String(r.lastAccess)])
      added += await this.redis.addBlobs(2 + keys.length, this.access, this.statsKey, ...keys, this.replica, ...args)
    }
    return added
  }

  async deleteBlob(digest: string): Promise<void> {
    this.hot.delete(`blob ${digest}`)
    this.touches.delete(digest)
    await this.redis.deleteBlob(
      this.key('blob', digest),
      this.access,
      this.statsKey,
      this.holdersKey(digest),
      digest,
      this.replica,
    )
  }

  touchBlob(digest: string, at: number): void {
    if ((this.touches.get(digest) ?? 0) < at) this.touches.set(digest, at)
  }

  private async flushTouches(): Promise<void> {
    if (this.touches.size === 0) return
    const batch = this.touches
    this.touches = new Map()
    // XX: only blobs still recorded; GT: a touch never moves a blob back in time.
    const args = [...batch].flatMap(([digest, at]) => [String(at), digest])
    await this.redis.zadd(this.access, 'XX', 'GT', ...args)
  }

  async *listBlobs(): AsyncIterable<BlobRecord> {
    let cursor = '0'
    do {
      const [next, flat] = await this.redis.zscan(this.access, cursor, 'COUNT', SCAN_BATCH)
      cursor = next
      const digests = flat.filter((_, i) => i % 2 === 0)
      yield* await this.records(digests)
    } while (cursor !== '0')
  }

  async *leastRecentlyUsed(kind: RecordKind): AsyncIterable<BlobRecord> {
    // Reads since the last flush count: the order is as of now.
    await this.flushTouches()
    let score = ''
    let digest = ''
    for (;;) {
      const flat = await this.redis.accessPage(this.access, score, digest, String(SCAN_BATCH))
      if (flat.length === 0) return
      digest = flat[flat.length - 2]!
      score = flat[flat.length - 1]!
      const records = await this.records(flat.filter((_, i) => i % 2 === 0))
      for (const record of records) {
        if ((record.mediaType !== undefined) === (kind === 'manifest')) yield record
      }
    }
  }

  private async records(digests: string[]): Promise<BlobRecord[]> {
    if (digests.length === 0) return []
    const pipeline = this.redis.pipeline()
    for (const digest of digests) pipeline.hgetall(this.key('blob', digest)).zscore(this.access, digest)
    // A record missing its blob hash (a crash between scripts cannot cause one, a manual
    // delete could) is left out.
    const results = (await pipeline.exec()) ?? []
    return digests.flatMap((digest, i) => {
      const fields = (results[2 * i]?.[1] ?? {}) as Record<string, string>
      const score = (results[2 * i + 1]?.[1] ?? null) as string | null
      const record = toRecord(digest, fields, score)
      return record === undefined ? [] : [record]
    })
  }

  getTag(key: TagKey): Promise<TagRecord | undefined> {
    return this.facts.getTag(key)
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

  /** Scans for tag keys (on each master of a Cluster) and reads them in batches. */
  async *listTags(): AsyncIterable<TagMapping> {
    const tagPrefix = this.key('tag', '')
    const pattern = `${tagPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis]
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH)
        cursor = next
        if (keys.length === 0) continue
        const values = await this.redis.mget(...keys)
        for (const [i, k] of keys.entries()) {
          const key = parseTagKeyString(k.slice(tagPrefix.length))
          const record = this.parse(tagRecordSchema, k, values[i] ?? null)
          if (key !== undefined && record !== undefined) yield { key, record }
        }
      } while (cursor !== '0')
    }
  }

  getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    return this.facts.getVerdict(upstream, repo)
  }

  deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    return this.facts.deleteTags(upstream, repo, tag)
  }

  putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    return this.facts.putVerdict(upstream, repo, verdict)
  }

  async pin(image: string, digests: string[]): Promise<void> {
    await this.redis.hset(this.key('pins'), image, JSON.stringify([...new Set(digests)]))
  }

  async unpin(image: string): Promise<boolean> {
    return (await this.redis.hdel(this.key('pins'), image)) > 0
  }

  async pins(): Promise<Pin[]> {
    const all = await this.redis.hgetall(this.key('pins'))
    return Object.entries(all).map(([image, digests]) => ({
      image,
      digests: this.parse(pinDigestsSchema, `${this.key('pins')} ${image}`, digests) ?? [],
    }))
  }

  async stats(): Promise<IndexStats> {
    const stats = await this.redis.hgetall(this.statsKey)
    return { blobs: Number(stats.blobs ?? 0), bytes: Number(stats.bytes ?? 0) }
  }

  /** Redis keeps the records anyway; the token names its data set, which a FLUSHALL or a restart without persistence replaces. */
  async saveState(): Promise<string> {
    // In the stats hash: it expires with this replica's records (see RedisPeers).
    await this.redis.hsetnx(this.statsKey, 'epoch', randomBytes(16).toString('hex'))
    const epoch = await this.redis.hget(this.statsKey, 'epoch')
    if (epoch === null) throw new Error('Redis lost the index epoch as it was written')
    return epoch
  }

  async restoreState(token: string): Promise<boolean> {
    return (await this.redis.hget(this.statsKey, 'epoch')) === token
  }

  /** A value read back; one that does not fit its schema (another writer, a hand edit) counts as absent. */
  private parse<T>(schema: z.ZodType<T>, key: string, text: string | null): T | undefined {
    return parseRecord(schema, text, (reason) => this.log.warn({ key, reason }, 'invalid index record ignored'))
  }

  async ping(): Promise<void> {
    await this.redis.ping()
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flushTouches().catch(() => {})
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => {})
    this.redis.disconnect()
  }
}
