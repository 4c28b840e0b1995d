import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig } from '../../src/config/load.js'
import type { RawSettings } from '../../src/config/options.js'
import type { Config } from '../../src/config/schema.js'
import type { Index } from '../../src/cache/cache-index.js'
import { startRedis } from './redis.js'
import { makeTempDir } from './temp-dir.js'

export interface RunningMirror {
  readonly url: string
  /** host:port, as skopeo wants it. */
  readonly host: string
  readonly app: App
  readonly config: Config
  readonly cacheDir: string
  /** Parsed JSON log lines the mirror wrote. */
  readonly logs: Array<Record<string, unknown>>
  /** Stops the mirror (and its Redis, if it has one), keeping the cache dir (for restart tests). */
  stop(): Promise<void>
  /** Stops the mirror and removes its cache dir. */
  close(): Promise<void>
}

export interface MirrorOptions {
  upstream: string
  cacheDir?: string
  settings?: RawSettings
  /** The environment the config is loaded with (HTTPS_PROXY...); empty by default. */
  env?: Record<string, string>
  index?: Index
  /** A clock for the mirror, to move time forward without waiting. */
  now?: () => number
  /** A port chosen beforehand (a replica must know its address before it starts). */
  port?: number
  /** The loopback address to listen on: 127.0.0.1, or ::1. */
  host?: string
  /**
   * Awaited between batches of the start-up walk of the cache dir. Given, startMirror
   * returns at once; without it, once the index has caught up with the disk (tests
   * about anything else then see the records of a restarted mirror's cache).
   */
  reconcilePause?: () => Promise<void>
}

/** A config as a user would write it: flags over defaults, validated by the real loader. */
export function testConfig(
  upstream: string,
  cacheDir: string,
  settings: RawSettings = {},
  env: Record<string, string> = {},
): Config {
  return loadConfig({
    flags: { upstream, cacheDir, listen: '127.0.0.1:0', logLevel: 'debug', ...settings },
    env,
  })
}

/**
 * The integration suite runs twice: with the embedded index, and with MIRROR_TEST_INDEX=redis
 * against a private redis-server for each mirror.
 */
export const withRedis = process.env.MIRROR_TEST_INDEX === 'redis'

/** The mirror, built in-process by buildApp and listening on a free loopback port. */
export async function startMirror(options: MirrorOptions): Promise<RunningMirror> {
  const dir = options.cacheDir === undefined ? await makeTempDir('cache') : undefined
  const cacheDir = options.cacheDir ?? dir!.path
  const redis =
    withRedis && options.index === undefined && options.settings?.redisUrl === undefined
      ? await startRedis()
      : undefined
  const settings = redis === undefined ? options.settings : { ...options.settings, redisUrl: redis.url }
  const config = testConfig(options.upstream, cacheDir, settings, options.env)
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      }
      callback()
    },
  })
  const app = await buildApp(config, {
    logger: { stream: sink },
    index: options.index,
    now: options.now,
    reconcilePause: options.reconcilePause,
  })
  const host = options.host ?? '127.0.0.1'
  await app.server.listen({ host, port: options.port ?? 0 })
  if (options.reconcilePause === undefined) await app.catchUp.idle()
  const { port } = app.server.server.address() as AddressInfo
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await app.server.close()
    await redis?.close()
  }
  return {
    url: `${config.tls === undefined ? 'http' : 'https'}://${hostPort}`,
    host: hostPort,
    app,
    config,
    cacheDir,
    logs,
    stop,
    close: async () => {
      await stop()
      await dir?.remove()
    },
  }
}
