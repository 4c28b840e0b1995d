import { freePort } from './ports.js'
import { startService, type ServiceProcess } from './service-process.js'
import { makeTempDir } from './temp-dir.js'

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Stops it for good (SIGKILL: a crash, not a shutdown). */
  readonly kill: () => Promise<void>
  /** Starts it again on the same port; its data is gone (no persistence). */
  readonly restart: () => Promise<void>
  readonly close: () => Promise<void>
}

/** A private redis-server on a free loopback port, never the machine's shared one. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await makeTempDir('redis')
  const port = await freePort()
  const launch = () =>
    startService(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path],
      { ready: /Ready to accept connections/ },
    )
  let service: ServiceProcess | undefined = await launch()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: async () => {
      await service?.kill()
      service = undefined
    },
    restart: async () => {
      await service?.kill()
      service = await launch()
    },
    close: async () => {
      await service?.close()
      await dir.remove()
    },
  }
}
