import type { Test } from 'tap'
import type { RawSettings } from '../../src/config/options.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { startMirror, type RunningMirror } from './mirror.js'
import { startRedis, type RedisServer } from './redis.js'
import { SECOND_NAME, startSecondUpstream, type SecondUpstream } from './second-upstream.js'
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

export interface TwoUpstreams {
  /** Token auth, seeded like every test's upstream. */
  upstream: Upstream
  /** No auth, another image under the same name. */
  second: SecondUpstream
  mirror: RunningMirror
}

/**
 * One mirror before two registries: the usual seeded one with token auth, named
 * `docker.io` and the default, and a second with no auth named `second.example`. Both
 * hold a `library/small:1`, different images that share a layer.
 */
export async function startTwoUpstreams(
  t: Test,
  settings: RawSettings | ((secondUrl: string) => RawSettings) = {},
): Promise<TwoUpstreams> {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const second = await startSecondUpstream()
  t.teardown(() => second.close())
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: {
      upstreamName: 'docker.io',
      defaultNamespace: 'library',
      upstreams: `${SECOND_NAME}=${second.registry.url}`,
      ...(typeof settings === 'function' ? settings(second.registry.url) : settings),
    },
  })
  t.teardown(() => mirror.close())
  return { upstream, second, mirror }
}
