import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './ports.js'
import { startService, type ServiceProcess } from './service-process.js'
import { makeTempDir } from './temp-dir.js'
import { waitFor } from './wait.js'

const run = promisify(execFile)

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

export interface RedisTopology {
  /** The MIRROR_REDIS_URL a mirror is given for it. */
  readonly url: string
  readonly close: () => Promise<void>
}

/** A master and one Sentinel watching it, as `redis-sentinel://host:port/<master>`. */
export async function startRedisSentinel(): Promise<RedisTopology> {
  const master = await startRedis()
  const dir = await makeTempDir('sentinel')
  const port = await freePort()
  const conf = join(dir.path, 'sentinel.conf')
  // Sentinel rewrites its own config file, so it lives in the temp dir.
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir.path}`,
      `sentinel monitor mirror-master 127.0.0.1 ${master.port} 1`,
      '',
    ].join('\n'),
  )
  const sentinel = await startService('redis-server', [conf, '--sentinel'], { ready: /\+monitor master/ })
  return {
    url: `redis-sentinel://127.0.0.1:${port}/mirror-master`,
    close: async () => {
      await sentinel.close()
      await master.close()
      await dir.remove()
    },
  }
}

/** Three masters in one Cluster (no replicas), as `redis-cluster://host:port,…`. */
export async function startRedisCluster(): Promise<RedisTopology> {
  const dir = await makeTempDir('cluster')
  const ports = [await freePort(), await freePort(), await freePort()]
  const nodes: ServiceProcess[] = []
  const close = async () => {
    await Promise.all(nodes.map((node) => node.close()))
    await dir.remove()
  }
  try {
    for (const port of ports) {
      nodes.push(
        await startService(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            dir.path,
          ],
          { ready: /Ready to accept connections/ },
        ),
      )
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    // Slots are assigned at once, but each node learns of the others by gossip.
    for (const port of ports) {
      const ok = async () => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout
      await waitFor(async () => (await ok()).includes('cluster_state:ok'), 20_000, `cluster_state:ok on ${port}`)
    }
  } catch (e) {
    await close()
    throw e
  }
  return { url: `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, close }
}
