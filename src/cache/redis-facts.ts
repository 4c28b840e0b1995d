import type { z } from 'zod'
import type { TagKey, TagRecord, Verdict } from './cache-index.js'
import { tagKeyString } from './cache-index.js'
import {
  MAX_NEGATIVE_VERDICTS,
  NEGATIVE_UNUSED_TTL_MS,
  tagRecordSchema,
  UNUSED_TTL_MS,
  verdictSchema,
} from './records.js'
import type { RedisClient } from './redis-connection.js'
import { PUT_VERDICT } from './redis-scripts.js'

type FactsRedis = RedisClient & {
  putVerdict(verdict: string, negatives: string, ...args: string[]): Promise<number>
}

export interface FactsDeps {
  redis: RedisClient
  key: (...parts: string[]) => string
  /** A read through the index's in-process cache of recent reads. */
  cached: <T>(key: string, read: () => Promise<T>) => Promise<T>
  forget: (key: string) => void
  parse: <T>(schema: z.ZodType<T>, key: string, text: string | null) => T | undefined
}

/**
 * The Redis index's tag mappings and verdicts. Each key expires when unused for its time
 * (UNUSED_TTL_MS; negative verdicts sooner), the time starting again at each use, and
 * negative verdicts are also bounded in count, so that asking for random names cannot
 * fill Redis.
 */
export class RedisFacts {
  private readonly redis: FactsRedis

  constructor(private readonly deps: FactsDeps) {
    deps.redis.defineCommand('putVerdict', { numberOfKeys: 2, lua: PUT_VERDICT })
    this.redis = deps.redis as FactsRedis
  }

  /** A read from Redis is a use: the mapping's time unused starts again. */
  async getTag(key: TagKey): Promise<TagRecord | undefined> {
    const k = this.deps.key('tag', tagKeyString(key))
    return this.deps.cached(k, async () => {
      const [[, text] = []] =
        (await this.redis.multi().getex(k, 'PX', UNUSED_TTL_MS).pexpire(this.acceptsKey(key), UNUSED_TTL_MS).exec()) ??
        []
      return this.deps.parse(tagRecordSchema, k, typeof text === 'string' ? text : null)
    })
  }

  /** The accept keys a tag has mappings for, so all of them can be found. */
  private acceptsKey(key: { upstream: string; repo: string; tag: string }): string {
    return this.deps.key('accepts', `${key.upstream} ${key.repo} ${key.tag}`)
  }

  async putTag(key: TagKey, record: TagRecord): Promise<void> {
    const k = this.deps.key('tag', tagKeyString(key))
    this.deps.forget(k)
    const accepts = this.acceptsKey(key)
    await this.redis
      .multi()
      .set(k, JSON.stringify(record), 'PX', UNUSED_TTL_MS)
      .sadd(accepts, key.accept)
      .pexpire(accepts, UNUSED_TTL_MS)
      .exec()
  }

  async deleteTag(key: TagKey): Promise<void> {
    const k = this.deps.key('tag', tagKeyString(key))
    this.deps.forget(k)
    await this.redis.multi().del(k).srem(this.acceptsKey(key), key.accept).exec()
  }

  async findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]> {
    const accepts = await this.redis.smembers(this.acceptsKey({ upstream, repo, tag }))
    if (accepts.length === 0) return []
    const keys = accepts.map((accept) => this.deps.key('tag', tagKeyString({ upstream, repo, tag, accept })))
    const values = await this.redis.mget(...keys)
    return values.flatMap((v, i) => {
      const record = this.deps.parse(tagRecordSchema, keys[i]!, v)
      return record === undefined ? [] : [record]
    })
  }

  async deleteTags(upstream: string, repo: string, tag: string): Promise<void> {
    const accepts = this.acceptsKey({ upstream, repo, tag })
    const keys = (await this.redis.smembers(accepts)).map((accept) =>
      this.deps.key('tag', tagKeyString({ upstream, repo, tag, accept })),
    )
    for (const k of keys) this.deps.forget(k)
    await this.redis.del(accepts, ...keys)
  }

  async getVerdict(upstream: string, repo: string): Promise<Verdict | undefined> {
    const k = this.deps.key('verdict', `${upstream} ${repo}`)
    return this.deps.cached(k, async () => {
      const verdict = this.deps.parse(verdictSchema, k, await this.redis.get(k))
      // A read is a use: its time unused starts again (not awaited: the answer is known).
      if (verdict !== undefined) this.refreshVerdict(k, verdict)
      return verdict
    })
  }

  private refreshVerdict(k: string, verdict: Verdict): void {
    const ttl = verdict.isPublic ? UNUSED_TTL_MS : NEGATIVE_UNUSED_TTL_MS
    const update = this.redis.multi().pexpire(k, ttl)
    if (!verdict.isPublic) update.zadd(this.deps.key('negatives'), 'XX', Date.now(), k)
    update.exec().catch(() => {})
  }

  /** Kept for a time unused; negative verdicts also in a bounded set (see PUT_VERDICT). */
  async putVerdict(upstream: string, repo: string, verdict: Verdict): Promise<void> {
    const k = this.deps.key('verdict', `${upstream} ${repo}`)
    this.deps.forget(k)
    const ttl = verdict.isPublic ? UNUSED_TTL_MS : NEGATIVE_UNUSED_TTL_MS
    const negative = verdict.isPublic ? '0' : '1'
    const args = [JSON.stringify(verdict), String(ttl), negative, String(Date.now()), String(MAX_NEGATIVE_VERDICTS)]
    await this.redis.putVerdict(k, this.deps.key('negatives'), ...args)
  }
}
