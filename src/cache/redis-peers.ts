import { randomBytes } from 'node:crypto'
import type { Logger } from '../logger.js'
import type { FetchPlan, Peers } from './peers.js'
import type { RedisClient } from './redis-connection.js'

/** A replica announces itself this often, and is taken for dead when it has not for this long. */
const HEARTBEAT_MS = 5_000
const ALIVE_FOR_MS = 15_000
/** A fetch lock outlives a crashed holder by at most this long; holders renew it well before. */
const LOCK_MS = 30_000
const RENEW_MS = 10_000
/** A peer that failed is not asked again for this long. */
const DROPPED_FOR_MS = 60_000
/**
 * A replica's own index keys (its access order and totals) outlive its last heartbeat by
 * this long; one that comes back later rebuilds them from its disk.
 */
const RECORDS_FOR_MS = 7 * 24 * 3600 * 1000

// Renew or release a lock only while it is still ours.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
// Dead replicas leave a blob's holders; a blob no one holds any more is forgotten.
// KEYS: holders, blob. ARGV: the dead replicas.
const FORGET = `redis.call('SREM', KEYS[1], unpack(ARGV))
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return 1`

type PeerRedis = RedisClient & {
  renewLock(key: string, owner: string, ms: string): Promise<number>
  releaseLock(key: string, owner: string): Promise<number>
  forgetHolders(holders: string, blob: string, ...dead: string[]): Promise<number>
}

/**
 * Replica coordination in Redis, beside the Redis index, on its connection, and under the
 * same prefix and hash tag: each replica's address with a heartbeat (`replica:<url>`, expiring), the holders of
 * each blob (kept by the index), and a lock per blob being fetched from the upstream,
 * with expiry and renewal, so a crashed holder delays others by seconds, not forever.
 */
export class RedisPeers implements Peers {
  private readonly redis: PeerRedis
  private readonly base: string
  private readonly dropped = new Map<string, number>()
  private readonly heartbeat: NodeJS.Timeout
  /** Lock values are unique per lock taken, so a late release never frees another's lock. */
  private readonly token = randomBytes(8).toString('hex')

  constructor(
    client: RedisClient,
    prefix: string,
    private readonly self: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    client.defineCommand('renewLock', { numberOfKeys: 1, lua: RENEW })
    client.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE })
    client.defineCommand('forgetHolders', { numberOfKeys: 2, lua: FORGET })
    this.redis = client as PeerRedis
    this.base = `${prefix}{idx}:`
    // Announce as soon as connected (and again after Redis comes back), then on a timer.
    client.on('ready', this.beat)
    this.beat()
    this.heartbeat = setInterval(this.beat, HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  private readonly beat = (): void => {
    this.redis
      .multi()
      .set(this.base + `replica:${this.self}`, '1', 'PX', ALIVE_FOR_MS)
      // The index's per-replica keys: they go some days after the replica does.
      .pexpire(this.base + `access:${this.self}`, RECORDS_FOR_MS)
      .pexpire(this.base + `stats:${this.self}`, RECORDS_FOR_MS)
      .exec()
      .catch(() => {})
  }

  async plan(digest: string): Promise<FetchPlan> {
    try {
      const holdersKey = this.base + `holders:${digest}`
      const members = (await this.redis.smembers(holdersKey)).filter((h) => h !== this.self)
      const living = await this.alive(members)
      const dead = members.filter((m) => !living.includes(m))
      if (dead.length > 0) await this.redis.forgetHolders(holdersKey, this.base + `blob:${digest}`, ...dead)
      const usable = living.filter((h) => this.usable(h))
      if (usable[0] !== undefined) return { kind: 'peer', url: usable[0] }
      const lock = this.base + `lock:${digest}`
      const owner = `${this.self} ${this.token} ${digest}`
      if ((await this.redis.set(lock, owner, 'PX', LOCK_MS, 'NX')) === 'OK') return this.held(lock, owner)
      const holder = (await this.redis.get(lock))?.split(' ')[0]
      if (
        holder !== undefined &&
        holder !== this.self &&
        this.usable(holder) &&
        (await this.alive([holder])).length > 0
      ) {
        return { kind: 'peer', url: holder }
      }
    } catch (e) {
      this.log.debug({ err: e, digest }, 'replica coordination unavailable; fetching from the upstream')
    }
    // No one to ask, or Redis is away: fetch it, as a lone mirror would.
    return { kind: 'upstream', release: async () => {} }
  }

  drop(url: string): void {
    this.log.warn({ peer: url }, 'peer failed; not asked again for a while')
    this.dropped.set(url, this.now() + DROPPED_FOR_MS)
  }

  /** Leaves the replicas. The connection is the index's: it stays open for the index to close. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat)
    this.redis.off('ready', this.beat)
    await this.redis.del(this.base + `replica:${this.self}`).catch(() => {})
  }

  private held(lock: string, owner: string): FetchPlan {
    const renew = setInterval(() => {
      this.redis.renewLock(lock, owner, String(LOCK_MS)).catch(() => {})
    }, RENEW_MS)
    renew.unref()
    return {
      kind: 'upstream',
      release: async () => {
        clearInterval(renew)
        await this.redis.releaseLock(lock, owner).catch(() => {})
      },
    }
  }

  private usable(url: string): boolean {
    if (url === this.self) return false
    const until = this.dropped.get(url)
    if (until === undefined) return true
    if (until > this.now()) return false
    this.dropped.delete(url)
    return true
  }

  private async alive(urls: string[]): Promise<string[]> {
    if (urls.length === 0) return []
    const pipeline = this.redis.pipeline()
    for (const url of urls) pipeline.exists(this.base + `replica:${url}`)
    const results = (await pipeline.exec()) ?? []
    return urls.filter((_, i) => results[i]?.[1] === 1)
  }
}
