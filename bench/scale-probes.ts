import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Pool, request } from 'undici'

const run = promisify(execFile)

/** A mirror process started by the scale benchmark, with its start measured from the spawn. */
export interface MirrorRun {
  url: string
  pid: number
  proc: ChildProcess
  spawnedAt: number
  /** JSON log lines seen so far. */
  logs: Array<Record<string, unknown>>
  /** SIGTERM: a clean shutdown. */
  stop(): Promise<void>
  /** SIGKILL: a crash. */
  kill(): Promise<void>
}

export function spawnMirror(root: string, args: string[], port: number): MirrorRun {
  const proc = spawn(process.execPath, ['--max-semi-space-size=2', join(root, 'dist/main.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const spawnedAt = performance.now()
  const logs: Array<Record<string, unknown>> = []
  let partial = ''
  proc.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>
        // Request lines are many under load; only the rest is kept.
        if (parsed.req === undefined && parsed.res === undefined) logs.push(parsed)
      } catch {}
    }
  })
  proc.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk))
  const exited = once(proc, 'exit')
  // A benchmark stopped half-way leaves no mirror behind.
  const orphan = () => proc.kill('SIGKILL')
  process.once('exit', orphan)
  void exited.then(() => process.off('exit', orphan))
  const stop = async (signal: NodeJS.Signals) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill(signal)
    await exited
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid!,
    proc,
    spawnedAt,
    logs,
    stop: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
  }
}

/** Milliseconds from the spawn until the port accepted a connection and until `path` answered 200. */
export async function startTimes(mirror: MirrorRun, path: string, timeoutMs: number) {
  let portOpenMs: number | undefined
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (performance.now() > deadline) throw new Error(`no answer on ${mirror.url}${path} in time`)
    if (mirror.proc.exitCode !== null) throw new Error('the mirror exited')
    try {
      const response = await request(mirror.url + path)
      portOpenMs ??= performance.now() - mirror.spawnedAt
      await response.body.dump()
      if (response.statusCode === 200) return { portOpenMs, firstHitMs: performance.now() - mirror.spawnedAt }
    } catch {
      // Not listening yet.
    }
    await sleep(5)
  }
}

async function readyz(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await request(url + '/readyz')
    return (await response.body.json()) as Record<string, unknown>
  } catch {
    return undefined
  }
}

async function gauge(url: string, name: string): Promise<number> {
  const response = await request(url + '/metrics')
  const text = await response.body.text()
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
}

export const cachedBlobs = (url: string) => gauge(url, 'registry_mirror_cache_blobs')
export const cachedBytes = (url: string) => gauge(url, 'registry_mirror_cache_size_bytes')
export const evictions = (url: string) => gauge(url, 'registry_mirror_evictions_total')

/**
 * Waits until the mirror says reconciliation is done (`/readyz`), or, for a mirror that
 * does not say (before it did it in the background), until the index holds `expected`
 * records; gives up after `capMs`. Milliseconds from the spawn, and the records then.
 */
export async function reconciled(mirror: MirrorRun, expected: number, capMs: number) {
  const deadline = mirror.spawnedAt + capMs
  for (;;) {
    const ready = await readyz(mirror.url)
    const now = performance.now()
    if (ready?.reconcile === 'done') break
    if (ready !== undefined && ready.reconcile === undefined && (await cachedBlobs(mirror.url)) >= expected) break
    if (now > deadline) break
    await sleep(20)
  }
  return { ms: performance.now() - mirror.spawnedAt, blobs: await cachedBlobs(mirror.url) }
}

export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

/** `ab -k -i`: HEADs per second of one URL for `seconds` (ab knows a HEAD has no body). */
export async function abHeads(url: string, seconds: number, connections: number, accept: string): Promise<number> {
  const args = ['-q', '-k', '-i', '-c', String(connections), '-t', String(seconds), '-n', '100000000']
  const { stdout } = await run('ab', [...args, '-H', `Accept: ${accept}`, url], { maxBuffer: 1 << 24 })
  const failed = Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0)
  if (failed > 0) process.stderr.write(`warning: ${failed} non-2xx HEAD answers from ${url}\n`)
  return Number(/Requests per second:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0)
}

/** wrk with `connections` clients GETting the given paths in turn: requests per second. */
export async function wrkGets(base: string, paths: string[], seconds: number, connections: number, work: string) {
  const script = join(work, 'paths.lua')
  await writeFile(
    script,
    `local paths = {${paths.map((p) => JSON.stringify(p)).join(',')}}\n` +
      'local i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n',
  )
  const args = ['-t2', `-c${connections}`, `-d${seconds}s`, '-s', script, base]
  const { stdout } = await run('wrk', args, { maxBuffer: 1 << 24 })
  const failed = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0)
  if (failed > 0) process.stderr.write(`warning: ${failed} non-2xx GET answers from ${base}\n`)
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0)
}

/**
 * HEADs of the given paths from `connections` keep-alive clients until `until` resolves:
 * their count and latency percentiles (ms).
 */
export async function headLatencies(
  base: string,
  paths: string[],
  accept: string,
  until: Promise<unknown>,
  connections = 4,
) {
  const pool = new Pool(base, { connections })
  const latencies: number[] = []
  const state = { stopped: false }
  void until.finally(() => (state.stopped = true))
  let next = 0
  const loop = async () => {
    while (!state.stopped) {
      const path = paths[next++ % paths.length]!
      const started = performance.now()
      const response = await pool.request({ method: 'HEAD', path, headers: { accept } })
      await response.body.dump()
      latencies.push(performance.now() - started)
    }
  }
  const began = performance.now()
  await Promise.all(Array.from({ length: connections }, loop))
  const seconds = (performance.now() - began) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { count: latencies.length, perSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99), max: at(1) }
}

export async function machineLoad(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
}
