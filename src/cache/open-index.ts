import { join } from 'node:path'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { Index } from './cache-index.js'
import { EmbeddedIndex } from './embedded-index.js'

/** The index the config asks for: Redis when MIRROR_REDIS_URL is set, else the embedded one. */
export async function openIndex(
  config: Config,
  log: Logger,
  onReconnect: (index: Index) => void = () => {},
): Promise<Index> {
  if (config.redisUrl === undefined) return EmbeddedIndex.open(join(config.cacheDir, 'index'))
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
      if (opened.index !== undefined) onReconnect(opened.index)
    },
  })
  // Start without Redis if it is down: the mirror serves from disk and catches up later.
  if (!(await firstConnection(client, config.redisTimeoutMs * 4))) {
    log.warn({}, 'Redis index not reachable at start; serving from disk until it is')
  }
  opened.index = new RedisIndex(client, config.redisPrefix, config.replica?.advertiseUrl ?? 'local', log)
  return opened.index
}
