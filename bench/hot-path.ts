// The hot path: a manifest HEAD of a cached tag through the mirror, next to an empty
// fastify route that sets the same headers, measured in turn in one run. Part of
// `npm run bench`; alone: `npm run build && tsx bench/hot-path.ts` (the seeded test images).
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { freePort } from '../test/helpers/ports.js'
import { ACCEPT_ALL } from '../test/helpers/seeded-images.js'
import { startService } from '../test/helpers/service-process.js'
import { median } from './load.js'
import type { Server } from './peers.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

/** The empty route (bench/empty-route.ts) in its own Node process, as the mirror runs in its own. */
export async function startEmptyRoute(): Promise<Server> {
  const port = await freePort()
  const service = await startService(
    process.execPath,
    [
      ...(process.env.REF_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      fileURLToPath(new URL('empty-route.ts', import.meta.url)),
      String(port),
    ],
    { ready: /empty route listening/, cwd: root, forgetOutputWhenReady: true },
  )
  return { name: 'empty fastify route', url: `http://127.0.0.1:${port}`, pid: service.proc.pid!, close: service.close }
}

export interface AbResult {
  requestsPerSecond: number
  failed: number
}

/**
 * HEADs per second from ApacheBench (a C client, light on this 2-core machine): keep-alive,
 * `connections` at a time, for `seconds`. A failed or non-2xx answer is counted apart.
 */
export async function abHeads(url: string, connections: number, seconds: number): Promise<AbResult> {
  const args = ['-q', '-k', '-i', '-c', String(connections), '-t', String(seconds), '-n', '10000000']
  const { stdout } = await run('ab', [...args, '-H', `Accept: ${ACCEPT_ALL}`, url], { maxBuffer: 1 << 20 })
  const rps = Number(/Requests per second:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0)
  const failed = Number(/Failed requests:\s+(\d+)/.exec(stdout)?.[1] ?? 0)
  const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0)
  return { requestsPerSecond: rps, failed: failed + non2xx }
}

/** CPU seconds a process (all its threads) has used, from /proc; clock ticks are 1/100 s on Linux. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * One ab run against a server, with the CPU time the server spent per answer: unlike the
 * rate, that hardly moves when other work shares the machine.
 */
async function measured(server: Server, path: string, connections: number, seconds: number) {
  const before = await cpuSeconds(server.pid)
  const result = await abHeads(`${server.url}${path}`, connections, seconds)
  const cpu = (await cpuSeconds(server.pid)) - before
  const answers = result.requestsPerSecond * seconds
  return { ...result, cpuMicros: answers === 0 ? 0 : (cpu * 1e6) / answers }
}

export interface HotPathFigures {
  /** Median HEADs per second. */
  mirror: number
  reference: number
  /** Median CPU time per answer, in microseconds. */
  mirrorCpuMicros: number
  referenceCpuMicros: number
  /** Each round's rates, mirror then reference. */
  rounds: Array<[number, number]>
  /** Each round's CPU time per answer, mirror then reference. */
  cpuRounds: Array<[number, number]>
  failed: number
}

/**
 * Rounds of one measure of each, in turn, so a passing slowdown of the machine (other
 * work on it) falls on both alike; the medians are compared. Both are warmed first.
 */
export async function hotPath(
  mirror: Server,
  reference: Server,
  options: { path: string; seconds: number; rounds: number; connections?: number },
): Promise<HotPathFigures> {
  const connections = options.connections ?? 32
  const head = await request(`${mirror.url}${options.path}`, { method: 'HEAD', headers: { accept: ACCEPT_ALL } })
  await head.body.dump()
  if (head.statusCode !== 200) throw new Error(`HEAD ${mirror.url}${options.path}: ${head.statusCode}`)
  for (const server of [mirror, reference]) await abHeads(`${server.url}${options.path}`, connections, 2)
  const m: Array<Awaited<ReturnType<typeof measured>>> = []
  const r: typeof m = []
  for (let i = 0; i < options.rounds; i++) {
    m.push(await measured(mirror, options.path, connections, options.seconds))
    r.push(await measured(reference, options.path, connections, options.seconds))
  }
  return {
    mirror: median(m.map((x) => x.requestsPerSecond)),
    reference: median(r.map((x) => x.requestsPerSecond)),
    mirrorCpuMicros: median(m.map((x) => x.cpuMicros)),
    referenceCpuMicros: median(r.map((x) => x.cpuMicros)),
    rounds: m.map((x, i) => [x.requestsPerSecond, r[i]!.requestsPerSecond]),
    cpuRounds: m.map((x, i) => [x.cpuMicros, r[i]!.cpuMicros]),
    failed: [...m, ...r].reduce((sum, x) => sum + x.failed, 0),
  }
}

/** Alone: the seeded test images' upstream, one mirror, the empty route. */
async function main(): Promise<void> {
  const { startUpstream } = await import('../test/helpers/upstream.js')
  const { makeTempDir } = await import('../test/helpers/temp-dir.js')
  const { startMirrorProcess } = await import('./peers.js')
  const seconds = Number(process.env.BENCH_SECONDS ?? 5)
  const upstream = await startUpstream()
  const small = upstream.fixture.images.small!
  const cache = await makeTempDir('hot-path')
  const mirror = await startMirrorProcess(
    root,
    upstream.registry.url,
    cache.path,
    process.env.MIRROR_ARGS?.split(' ').filter(Boolean),
  )
  const reference = await startEmptyRoute()
  try {
    const figures = await hotPath(mirror, reference, {
      path: `/v2/${small.repo}/manifests/${small.tag}`,
      seconds,
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    })
    for (const [m, r] of figures.rounds) process.stderr.write(`  mirror ${m.toFixed(0)}  empty route ${r.toFixed(0)}\n`)
    const ratio = figures.mirror / figures.reference
    process.stdout.write(
      `cached tag HEAD: mirror ${figures.mirror.toFixed(0)} req/s, empty route ${figures.reference.toFixed(0)} req/s, ` +
        `${ratio.toFixed(2)}x; CPU per answer ${figures.mirrorCpuMicros.toFixed(1)} µs vs ` +
        `${figures.referenceCpuMicros.toFixed(1)} µs (failed ${figures.failed})\n`,
    )
  } finally {
    await reference.close()
    await mirror.close()
    await upstream.close()
    await cache.remove()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
