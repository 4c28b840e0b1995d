import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { parseRedisUrl } from '../config/redis-url.js'
import type { Logger } from '../logger.js'

export type RedisClient = Redis | Cluster

export interface RedisConnectionOptions {
  url: string
  /** No command waits longer than this; a request never stalls on the index. */
  timeoutMs: number
  log: Logger
  /** Called each time the connection is ready again after it was lost. */
  onReconnect?: () => void
}

/** Reconnect with a short backoff, forever: the mirror serves meanwhile. */
const retryStrategy = (times: number) => Math.min(100 * times, 2000)

/**
 * The client for a MIRROR_REDIS_URL:
 * - `redis://[:password@]host:port[/db]` and `rediss://…` (TLS): one server, as ioredis
 *   takes them;
 * - `redis-sentinel://[:password@]host:port,host:port/<master name>[/db]`: Sentinel;
 * - `redis-cluster://[:password@]host:port,host:port`: Cluster (every key carries one hash
 *   tag, so multi-key updates stay in one slot).
 * See parseRedisUrl; the config has already checked the URL.
 * Commands fail at once while disconnected (no offline queue) and time out after
 * `timeoutMs`; callers treat a failure as "index unavailable" and go on serving.
 */
export function connectRedis(options: RedisConnectionOptions): RedisClient {
  const common: RedisOptions = {
    commandTimeout: options.timeoutMs,
    connectTimeout: Math.max(options.timeoutMs, 1000),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy,
  }
  const target = parseRedisUrl(options.url)
  let client: RedisClient
  if (target.kind === 'sentinel') {
    client = new Redis({
      ...common,
      sentinels: target.sentinels,
      name: target.master,
      db: target.db,
      password: target.password,
      username: target.username,
    })
  } else if (target.kind === 'cluster') {
    const clusterOptions: ClusterOptions = {
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: false,
      redisOptions: { ...common, password: target.password, username: target.username },
    }
    client = new Cluster(target.nodes, clusterOptions)
  } else {
    client = new Redis(target.url, common)
  }
  watchState(client, options)
  return client
}

/** Logs each transition between up and down once, not per failed request. */
function watchState(client: RedisClient, options: RedisConnectionOptions): void {
  let state: 'starting' | 'up' | 'down' = 'starting'
  const down = (err?: Error) => {
    if (state === 'down') return
    state = 'down'
    options.log.warn(err === undefined ? {} : { err }, 'Redis index unreachable; serving from disk without it')
  }
  client.on('ready', () => {
    if (state === 'down') {
      options.log.info({}, 'Redis index reachable again')
      options.onReconnect?.()
    }
    state = 'up'
  })
  // A lost connection is a transition at once; failed reconnects are not news, and a
  // connection closed on purpose (status 'end') is no outage.
  client.on('close', () => {
    if (client.status !== 'end') down()
  })
  client.on('error', (err: Error) => down(err))
}

/** Waits for the first connection, but not for long: the mirror must start without Redis. */
export async function firstConnection(client: RedisClient, waitMs: number): Promise<boolean> {
  if (client.status === 'ready') return true
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', ready)
      resolve(false)
    }, waitMs)
    const ready = () => {
      clearTimeout(timer)
      resolve(true)
    }
    client.once('ready', ready)
  })
}
