import { join } from 'node:path'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { Index, IndexBeside } from './cache-index.js'
import { EmbeddedIndex } from './embedded-index.js'
import { FactJournals } from './fact-journals.js'
import { alone, type Peers } from './peers.js'
import { WriteThroughIndex } from './write-through-index.js'

export interface OpenIndexOptions {
  /** Called with the index each time Redis is reachable again after an outage. */
  onReconnect?: (index: Index) => void
  /**
   * Join the replicas the config names (`advertiseUrl`): a serving mirror does, a command
   * run beside one (reindex, pin) does not, or it would announce itself as a replica.
   * A serving mirror also compacts the embedded index's pin file, and on Redis keeps a
   * local copy of its facts (see WriteThroughIndex).
   */
  asReplica?: boolean
}

export interface OpenedIndex {
  index: Index
  /** Replica coordination, on the index's own Redis connection; `alone` for a single mirror. */
  peers: Peers
}

/**
 * The index the config asks for: Redis when MIRROR_REDIS_URL is set, else the embedded
 * one. A process opens one Redis connection: the index and the replica coordination
 * share it (both only send commands; neither subscribes). Close the peers before the
 * index: the index closes the connection.
 */
export async function openIndex(config: Config, log: Logger, options: OpenIndexOptions = {}): Promise<OpenedIndex> {
  if (config.redisUrl === undefined) {
    const index = await EmbeddedIndex.open(join(config.cacheDir, 'index'))
    // Only the serving mirror rewrites the pin file (the pin command appends to it).
    if (options.asReplica === true) {
      await index.compactPins().catch((e: unknown) => log.warn({ err: e }, 'pin file not compacted'))
    }
    return { index, peers: alone }
  }
  // ioredis costs ~20 MiB of memory: loaded only by mirrors that use Redis.
  const { connectRedis, firstConnection } = await import('./redis-connection.js')
  const { RedisIndex } = await import('./redis-index.js')
  const opened: { index?: Index } = {}
  const client = connectRedis({
    url: config.redisUrl,
    timeoutMs: config.redisTimeoutMs,
    log,
    // Redis may come up while the first connection is still awaited below (started
    // together with the mirror): that first catch-up is the caller's, at start.
    onReconnect: () => {
      if (opened.index !== undefined) options.onReconnect?.(opened.index)
    },
  })
  // Start without Redis if it is down: the mirror serves from disk and catches up later.
  if (!(await firstConnection(client, config.redisTimeoutMs * 4))) {
    log.warn({}, 'Redis index not reachable at start; serving from disk until it is')
  }
  const redis = new RedisIndex(client, config.redisPrefix, config.replica?.advertiseUrl ?? 'local', log)
  // A serving mirror keeps its own copy of the tag mappings and verdicts it learns, beside
  // the embedded index's, for when Redis cannot answer; commands run beside it do not
  // write them.
  opened.index =
    options.asReplica === true
      ? new WriteThroughIndex(redis, await FactJournals.open(join(config.cacheDir, 'index')))
      : redis
  const replica = options.asReplica === true ? config.replica : undefined
  if (replica === undefined) return { index: opened.index, peers: alone }
  const { RedisPeers } = await import('./redis-peers.js')
  return { index: opened.index, peers: new RedisPeers(client, config.redisPrefix, replica.advertiseUrl, log) }
}

/**
 * The index for a command run beside a live mirror (ls, export, pin): Redis is shared as
 * it is; the embedded index's journals are read, never written, except for pins.
 */
export async function openIndexBeside(config: Config, log: Logger): Promise<IndexBeside> {
  if (config.redisUrl !== undefined) return (await openIndex(config, log)).index
  return EmbeddedIndex.beside(join(config.cacheDir, 'index'))
}
