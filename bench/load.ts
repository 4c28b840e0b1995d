import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { Pool } from 'undici'

const run = promisify(execFile)
const MiB = 1024 * 1024

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/**
 * Waits for the disk to write back what earlier steps left dirty (the seeded upstream,
 * deleted caches): a pull timed while the kernel flushes half a gigabyte measures the
 * flush. Every pull round and every measured phase starts from an idle disk.
 */
export async function settleDisk(): Promise<void> {
  await run('sync')
}

/**
 * Wall-clock seconds of a skopeo pull into a fresh dir: over HTTPS verified against the
 * CA in `certDir` when given, else over plain HTTP.
 */
export async function timedPull(image: string, outDir: string, certDir?: string): Promise<number> {
  await rm(outDir, { recursive: true, force: true })
  const tls = certDir === undefined ? ['--src-tls-verify=false'] : ['--src-cert-dir', certDir]
  const start = performance.now()
  await run('skopeo', ['copy', '--quiet', ...tls, `docker://${image}`, `dir:${outDir}`], {
    maxBuffer: 16 * MiB,
  })
  return (performance.now() - start) / 1000
}

async function curlMBps(url: string): Promise<number> {
  const { stdout } = await run('curl', ['-sf', '-o', '/dev/null', '-w', '%{speed_download}', url])
  return Number(stdout) / MiB
}

/**
 * MB/s of one GET with curl (a C client, so the client is not the bottleneck), for each
 * URL: the median of `rounds`, taken in turn (one GET from each server, then the next
 * round), so that a passing slowdown of the machine hits all of them alike. Each server
 * first serves one unmeasured GET: a fresh Node process serves its first large blobs some
 * 25% slower while V8 is still compiling the send loop, and a site's mirror is past that.
 */
export async function singleGetsMBps(urls: string[], rounds = 5): Promise<number[]> {
  for (const url of urls) await curlMBps(url)
  const speeds: number[][] = urls.map(() => [])
  for (let i = 0; i < rounds; i++) {
    for (const [at, url] of urls.entries()) speeds[at]!.push(await curlMBps(url))
  }
  return speeds.map((s) => s.sort((a, b) => a - b)[Math.floor(rounds / 2)]!)
}

export interface WrkResult {
  requestsPerSecond: number
  mbPerSecond: number
  non2xx: number
}

function parseWrk(output: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0)
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(output)
  const unit = { B: 1 / MiB, KB: 1 / 1024, MB: 1, GB: 1024 }[transfer?.[2] ?? 'B'] ?? 0
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0)
  return { requestsPerSecond: rps, mbPerSecond: Number(transfer?.[1] ?? 0) * unit, non2xx }
}

/** wrk (a C load generator) against one URL: `connections` clients for `seconds`. */
export async function wrk(url: string, options: { connections: number; seconds: number }): Promise<WrkResult> {
  const args = ['-t2', `-c${options.connections}`, `-d${options.seconds}s`, url]
  const { stdout } = await run('wrk', args, { maxBuffer: 16 * MiB })
  return parseWrk(stdout)
}

/**
 * HEAD requests per second from `connections` keep-alive connections. wrk (and
 * autocannon) wait for a body after a HEAD that carries Content-Length, so this phase
 * uses undici, which knows HEAD has none.
 */
export async function headsPerSecond(
  url: string,
  options: { connections: number; seconds: number; headers: Record<string, string> },
): Promise<{ requestsPerSecond: number; non2xx: number }> {
  const target = new URL(url)
  const pool = new Pool(target.origin, { connections: options.connections })
  const deadline = performance.now() + options.seconds * 1000
  let done = 0
  let non2xx = 0
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const response = await pool.request({ method: 'HEAD', path: target.pathname, headers: options.headers })
      await response.body.dump()
      if (response.statusCode >= 300) non2xx++
      done++
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: options.connections }, loop))
  const elapsed = (performance.now() - start) / 1000
  await pool.close()
  return { requestsPerSecond: done / elapsed, non2xx }
}
