import { LRUCache } from 'lru-cache'
import type { z } from 'zod'
import { Cluster } from 'ioredis'
import type { BlobRecord, Index, IndexStats, Pin, TagKey, TagMapping, TagRecord, Verdict } from './cache-index.js'
import { parseTagKeyString, tagKeyString } from './cache-index.js'
import { silentLogger, type Logger } from '../logger.js'
import { parseRecord, pinDigestsSchema, tagRecordSchema, verdictSchema } from './records.js'
import type { RedisClient } from './redis-connection.js'

/**
 * Reads served from process memory for this long: a cache hit costs no Redis round trip,
 * and another replica's update shows within this delay.
 */
const HOT_TTL_MS = 2000
const HOT_MAX_ENTRIES = 10_000
/** Touches are gathered and written in one command this often. */
const TOUCH_FLUSH_MS = 1000
const SCAN_BATCH = 500

// What a blob is (blob:<digest>, shared) and which replica holds it (its access order,
// its totals, the holders set) change together, or not at all.
// KEYS: blob, access, stats, holders. ARGV: digest, size, mediaType, upstream, lastAccess, replica.
const PUT_BLOB = `
local held = redis.call('ZSCORE', KEYS[2], ARGV[1])
local old = redis.call('HGET', KEYS[1], 'size')
redis.call('HSET', KEYS[1], 'size', ARGV[2], 'upstream', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'mediaType', ARGV[3]) end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[6])
if held then
  redis.call('HINCRBY', KEYS[3], 'bytes', tonumber(ARGV[2]) - tonumber(old or ARGV[2]))
else
  redis.call('HINCRBY', KEYS[3], 'bytes', ARGV[2])
  redis.call('HINCRBY', KEYS[3], 'blobs', 1)
end
return 1`

// KEYS: blob, access, stats, holders. ARGV: digest, replica.
const DELETE_BLOB = `
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local size = redis.call('HGET', KEYS[1], 'size') or '0'
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'bytes', -tonumber(size))
redis.call('HINCRBY', KEYS[3], 'blobs', -1)
if redis.call('SCARD', KEYS[4]) == 0 then redis.call('DEL', KEYS[1]) end
return 1`

type IndexRedis = RedisClient & {
  putBlob(blob: string, access: string, stats: string, holders: string, ...args: string[]): Promise<number>
  deleteBlob(blob: string, access: string, stats: string, holders: string, ...args: string[]): Promise<number>
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

  /** `replica` names this mirror among those sharing the Redis; one alone uses any name. */
  constructor(
    client: RedisClient,
    prefix: string,
    private readonly replica = 'local',
    private readonly log: Logger = silentLogger,
  ) {
    client.defineCommand('putBlob', { numberOfKeys: 4, lua: PUT_BLOB })
    client.defineCommand('deleteBlob', { numberOfKeys: 4, lua: DELETE_BLOB })
    this.redis = client as IndexRedis
    this.base = `${prefix}{idx}:`
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

  async leastRecentlyUsed(skip: number, limit: number): Promise<BlobRecord[]> {
    if (limit <= 0) return []
    const digests = await this.redis.zrange(this.access, skip, skip + limit - 1)
    return this.records(digests)
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

  async getTag(key: TagKey): Promise<TagRecord | undefined> {
    const k = this.key('tag', tagKeyString(key))
    return this.cached(k, async () => this.parse(tagRecordSchema, k, await this.redis.get(k)))
  }

  /** The accept keys a tag has mappings for, so all of them can be found. */
  private acceptsKey(key: { upstream: string; repo: string; tag: string }): string {
    return this.key('accepts', `${key.upstream} ${key.repo} ${key.tag}`)
  }

  async putTag(key: TagKey, record: TagRecord): Promise<void> {
    const k = this.key('tag', tagKeyString(key))
    this.hot.delete(k)
    await this.redis.multi().set(k, JSON.stringify(record)).sadd(this.acceptsKey(key), key.accept).exec()
  }

  async deleteTag(key: TagKey): Promise<void> {
    const k = this.key('tag', tagKeyString(key))
    this.hot.delete(k)
    await this.redis.multi().del(k).srem(this.acceptsKey(key), key.accept).exec()
  }

  async findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]> {
    const accepts = await this.redis.smembers(this.acceptsKey({ upstream, repo, tag }))
    if (accepts.length === 0) return []
    const keys = accepts.map((accept) => this.key('tag', tagKeyString({ upstream, repo, tag, accept })))
    const values = await this.redis.mget(...keys)
    return values.flatMap((v, i) => {
      const record = this.parse(tagRecordSchema, keys[i]!, v)
      return record === undefined ? [] : [record]
    })
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

  async deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    const accepts = this.acceptsKey({ upstream, repo, tag })
    const keys = (await this.redis.smembers(accepts)).map((accept) =>
      this.key('tag', tagKeyString({ upstream, repo, tag, accept })),
    )
    for (const k of keys) this.hot.delete(k)
    await this.redis.del(accepts, ...keys)
  }

  async getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    const k = this.key('verdict', `${upstream} ${repo}`)
    return this.cached(k, async () => this.parse(verdictSchema, k, await this.redis.get(k)))
  }

  async putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    const k = this.key('verdict', `${upstream} ${repo}`)
    this.hot.delete(k)
    await this.redis.set(k, JSON.stringify(verdict))
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
