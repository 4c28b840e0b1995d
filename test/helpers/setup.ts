import type { Test } from 'tap'
import type { RawSettings } from '../../src/config/options.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { startMirror, type RunningMirror } from './mirror.js'
import { startRedis, type RedisServer } from './redis.js'
import type { TokenServerOptions } from './token-server.js'
import { startUpstream, type Upstream } from './upstream.js'

export interface Stack {
  upstream: Upstream
  mirror: RunningMirror
  /** Present when asked for: sits between the mirror and the registry. */
  proxy: FaultProxy | undefined
}

/**
 * The usual arrangement: the real registry with token auth, seeded; optionally a fault
 * proxy in front of it; the mirror pointed at it. Everything is torn down with the test.
 */
export async function startStack(
  t: Test,
  options: {
    settings?: RawSettings
    faultProxy?: boolean
    now?: () => number
    tokens?: TokenServerOptions
    /** The mirror's listen address, 127.0.0.1 by default. */
    host?: string
  } = {},
): Promise<Stack> {
  const upstream = await startUpstream(options.tokens)
  t.teardown(() => upstream.close())
  const proxy =
    options.faultProxy === true ? await startFaultProxy(upstream.registry.url, upstream.storageDir) : undefined
  if (proxy !== undefined) t.teardown(() => proxy.close())
  const mirror = await startMirror({
    upstream: proxy?.url ?? upstream.registry.url,
    settings: options.settings,
    host: options.host,
    now: options.now,
  })
  t.teardown(() => mirror.close())
  return { upstream, mirror, proxy }
}

/** The seeded upstream and a private Redis, for the mirrors (or replicas) a test starts on them. */
export async function startUpstreamAndRedis(t: Test): Promise<{ upstream: Upstream; redis: RedisServer }> {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const redis = await startRedis()
  t.teardown(() => redis.close())
  return { upstream, redis }
}
