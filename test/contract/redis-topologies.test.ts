// The Index contract on Redis Sentinel and Redis Cluster URLs, as MIRROR_REDIS_URL takes
// them: the Lua scripts, transactions and pipelines must hold on a Cluster (one hash tag
// keeps every key in one slot) and the Sentinel URL must find its master.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { Index } from '../../src/cache/cache-index.js'
import { connectRedis, firstConnection } from '../../src/cache/redis-connection.js'
import { RedisIndex } from '../../src/cache/redis-index.js'
import { silentLogger } from '../../src/logger.js'
import { startRedisCluster, startRedisSentinel, type RedisTopology } from '../helpers/redis.js'
import { indexContract } from './index-contract.js'

function contractOn(name: string, start: () => Promise<RedisTopology>): void {
  t.test(name, async (t) => {
    const topology = await start()
    t.teardown(() => topology.close())
    const prefixes = new WeakMap<Index, string>()
    const open = async (prefix: string) => {
      const client = connectRedis({ url: topology.url, timeoutMs: 2000, log: silentLogger })
      if (!(await firstConnection(client, 10_000))) throw new Error(`no connection to ${topology.url}`)
      const index = new RedisIndex(client, prefix)
      prefixes.set(index, prefix)
      t.teardown(() => index.close())
      return index
    }
    indexContract(t, {
      open: () => open(`test-${randomBytes(4).toString('hex')}:`),
      reopen: (previous) => open(prefixes.get(previous)!),
      persistsBlobRecords: true,
    })
  })
}

contractOn('Redis Sentinel (redis-sentinel://host:port/<master>)', startRedisSentinel)
contractOn('Redis Cluster of three masters (redis-cluster://host:port,…)', startRedisCluster)
