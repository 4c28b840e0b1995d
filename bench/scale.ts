// Big-cache figures: `npm run bench:scale`. A generated cache of BENCH_SCALE_COUNT blobs
// (default 1,000,000; kept between runs in BENCH_SCALE_DIR) is served by the built mirror
// with the embedded index and with the Redis index: start-up, reconciliation, memory,
// eviction, and hit rates next to a cache of 100 blobs. Needs ab, wrk and redis-server.
import { rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { tagKeyString } from '../src/cache/cache-index.js'
import { connectRedis, firstConnection } from '../src/cache/redis-connection.js'
import { RedisIndex } from '../src/cache/redis-index.js'
import { silentLogger } from '../src/logger.js'
import { acceptKey } from '../src/oci/media-types.js'
import { ACCEPT_ALL } from '../test/helpers/seeded-images.js'
import { freePort } from '../test/helpers/ports.js'
import { startRedis, type RedisServer } from '../test/helpers/redis.js'
import { makeTempDir } from '../test/helpers/temp-dir.js'
import { benchTags, describeBlob, makeCache, markIncomplete, REPOS } from './make-cache.js'
import {
  abHeads,
  headLatencies,
  machineLoad,
  reconciled,
  rssMiB,
  spawnMirror,
  startTimes,
  wrkGets,
  type MirrorRun,
} from './scale-probes.js'

/** Another build of the mirror may be measured (BENCH_MIRROR_ROOT: a dir holding its dist/). */
const run = promisify(execFile)
const root = process.env.BENCH_MIRROR_ROOT ?? fileURLToPath(new URL('..', import.meta.url))
const COUNT = Number(process.env.BENCH_SCALE_COUNT ?? 1_000_000)
const SMALL = 100
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
/** BENCH_SCALE_ONLY=eviction measures the eviction pass alone. */
const ONLY = process.env.BENCH_SCALE_ONLY
const DIR = process.env.BENCH_SCALE_DIR ?? join(tmpdir(), 'registry-mirror-scale')
const KINDS = (process.env.BENCH_SCALE_INDEX ?? 'embedded,redis').split(',')
/** Longest a reconciliation or an eviction pass is waited for (a start, ten times as long). */
const CAP_MS = Number(process.env.BENCH_SCALE_CAP_SECONDS ?? 300) * 1000
const START_CAP_MS = 10 * CAP_MS
const REPO = 'bench/r0'

type Row = [string, ...string[]]
const rows: Row[] = []
const log = (message: string) => process.stderr.write(message + '\n')
/** Rows are also shown as they come: a run cut short keeps what it measured. */
const report = (...added: Row[]) => {
  rows.push(...added)
  for (const row of added) log(`  ${row.join(' | ')}`)
}

/** Verdicts for the bench repositories and a tag per manifest, fresh, as the mirror would have them. */
async function writeIndexFacts(cacheDir: string, count: number, upstreamHost: string, redisUrl?: string) {
  const now = Date.now()
  const accept = acceptKey(ACCEPT_ALL)
  const repos = Array.from({ length: REPOS }, (_, r) => `bench/r${r}`)
  if (redisUrl === undefined) {
    const dir = join(cacheDir, 'index')
    await mkdir(dir, { recursive: true })
    const line = (k: string, r: unknown) => JSON.stringify({ k, r }) + '\n'
    await writeFile(
      join(dir, 'verdicts.jsonl'),
      repos.map((repo) => line(`${upstreamHost} ${repo}`, { isPublic: true, checkedAt: now })).join(''),
    )
    const tags: string[] = []
    for (const { repo, tag, blob } of benchTags(count)) {
      const key = tagKeyString({ upstream: upstreamHost, repo, tag, accept })
      tags.push(line(key, { digest: blob.digest, mediaType: blob.mediaType, size: blob.size, checkedAt: now }))
    }
    await writeFile(join(dir, 'tags.jsonl'), tags.join(''))
    return
  }
  const client = connectRedis({ url: redisUrl, timeoutMs: 5000, log: silentLogger })
  await firstConnection(client, 5000)
  const index = new RedisIndex(client, 'registry-mirror:', 'local')
  for (const repo of repos) await index.putVerdict(upstreamHost, repo, { isPublic: true, checkedAt: now })
  const pending: Array<Promise<void>> = []
  for (const { repo, tag, blob } of benchTags(count)) {
    const record = { digest: blob.digest, mediaType: blob.mediaType!, size: blob.size, checkedAt: now }
    pending.push(index.putTag({ upstream: upstreamHost, repo, tag, accept }, record))
    if (pending.length >= 1000) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  await index.close()
}

interface Setup {
  kind: string
  cacheDir: string
  count: number
  redis?: RedisServer
  upstream: string
  work: string
}

async function start(setup: Setup, extra: string[] = []): Promise<MirrorRun> {
  const port = await freePort()
  const args = ['--upstream', setup.upstream, '--cache-dir', setup.cacheDir, '--listen', `127.0.0.1:${port}`]
  if (setup.redis !== undefined) args.push('--redis-url', setup.redis.url)
  return spawnMirror(root, [...args, ...extra], port)
}

/** Paths of cached manifests (by digest) and of small cached blobs in the bench repository. */
function paths(count: number) {
  const manifests: string[] = []
  const blobs: string[] = []
  for (let n = 0; n < count && (manifests.length < 1000 || blobs.length < 1000); n++) {
    const blob = describeBlob(n, count)
    // Manifest m is in bench/r<m % REPOS>: only those of bench/r0 are asked for.
    if (blob.mediaType !== undefined) {
      if ((n / 25) % REPOS === 0) manifests.push(`/v2/${REPO}/manifests/${blob.digest}`)
    } else if (blob.size <= 16 * 1024) blobs.push(`/v2/${REPO}/blobs/${blob.digest}`)
  }
  return { manifests, blobs }
}

const fmt = (n: number, digits = 0) => n.toFixed(digits)

/** First start after a crash (no clean-shutdown marker), the HEAD rate while it reconciles. */
async function firstStart(setup: Setup, p: ReturnType<typeof paths>) {
  await rm(join(setup.cacheDir, 'index', 'clean-shutdown.json'), { force: true })
  const mirror = await start(setup)
  const times = await startTimes(mirror, p.blobs[0]!, START_CAP_MS)
  const finished = reconciled(mirror, setup.count, CAP_MS)
  // HEADs while it reconciles (a mirror that reconciles before it listens has finished).
  const during = await earlyHeads(mirror, p)
  const done = await finished
  return { mirror, times, during, done }
}

/**
 * HEADs per second in the first seconds after a start, after a second of warm-up: a
 * fresh process is still compiling its hot paths, so the rate while it reconciles is
 * compared with the rate at the same moment of a start that does not.
 */
async function earlyHeads(mirror: MirrorRun, p: ReturnType<typeof paths>): Promise<number> {
  await abHeads(mirror.url + p.manifests[0], 1, 32, ACCEPT_ALL)
  return abHeads(mirror.url + p.manifests[0], 3, 32, ACCEPT_ALL)
}

async function measure(setup: Setup, bytes: number): Promise<void> {
  const { kind, count } = setup
  const p = paths(count)
  if (ONLY === 'eviction') {
    if (count > SMALL) await evictionPass(setup, p, bytes)
    return
  }
  log(`${kind}, ${count} blobs: first start (after a crash)…`)
  const first = await firstStart(setup, p)
  const reconcileSeconds = first.done.ms / 1000
  const walk = first.mirror.logs.find((l) => l.msg === 'index reconcile finished')
  const cpuMs = typeof walk?.cpuMs === 'number' ? walk.cpuMs : undefined
  await sleep(3000)
  const rss = await rssMiB(first.mirror.pid)
  log(`${kind}: idle rates…`)
  const heads = await abHeads(first.mirror.url + p.manifests[0], SECONDS, 32, ACCEPT_ALL)
  const gets = await wrkGets(first.mirror.url, p.blobs, SECONDS, 50, setup.work)
  await first.mirror.stop()

  log(`${kind}: clean restart…`)
  const again = await start(setup)
  const againTimes = await startTimes(again, p.blobs[0]!, START_CAP_MS)
  const againEarly = await earlyHeads(again, p)
  const againDone = await reconciled(again, count, CAP_MS)
  await sleep(3000)
  const againRss = await rssMiB(again.pid)
  // The same HEADs as during an eviction pass, for the latencies the machine gives anyway.
  const idle = await headLatencies(again.url, p.manifests, ACCEPT_ALL, sleep(SECONDS * 500))
  await again.stop()
  if (setup.redis !== undefined) {
    const { stdout } = await run('redis-cli', ['-p', String(setup.redis.port), 'info', 'memory'])
    const used = Number(/^used_memory:(\d+)/m.exec(stdout)?.[1] ?? 0)
    report([`${kind} ${count}: Redis used_memory (bytes a record)`, `${fmt(used / 2 ** 20)} MiB`, fmt(used / count)])
  }

  const label = `${kind} ${count}`
  report(
    [`${label}: port open after spawn`, `${fmt(first.times.portOpenMs)} ms`, `${fmt(againTimes.portOpenMs)} ms`],
    [
      `${label}: first cached blob GET answered`,
      `${fmt(first.times.firstHitMs)} ms`,
      `${fmt(againTimes.firstHitMs)} ms`,
    ],
    [
      `${label}: reconciled (records, s after spawn, files/s)`,
      `${first.done.blobs}, ${fmt(reconcileSeconds, 1)} s, ${fmt(first.done.blobs / Math.max(reconcileSeconds, 0.001))}/s`,
      `${againDone.blobs}, ${fmt(againDone.ms / 1000, 2)} s`,
    ],
    [
      `${label}: walk's CPU time (requests in the first seconds included), files per CPU-second`,
      cpuMs === undefined ? '-' : `${fmt(cpuMs / 1000, 1)} s, ${fmt(first.done.blobs / (cpuMs / 1000))}/s`,
      '-',
    ],
    [`${label}: manifest HEADs/s in the first seconds (ab -c32)`, fmt(first.during), fmt(againEarly)],
    [`${label}: idle RSS`, `${fmt(rss)} MiB`, `${fmt(againRss)} MiB`],
    [`${label}: manifest HEADs/s (ab -k -c32)`, fmt(heads), '-'],
    [`${label}: small blob GETs/s (wrk -c50)`, fmt(gets), '-'],
    [
      `${label}: HEAD p50/p99/max ms, 4 clients, idle`,
      '-',
      `${fmt(idle.p50, 1)}/${fmt(idle.p99, 1)}/${fmt(idle.max, 1)} ms`,
    ],
  )
  if (count > SMALL) await evictionPass(setup, p, bytes)
}

/** A pass from the high to the low mark over 10% of the cache, HEADs timed meanwhile. */
async function evictionPass(setup: Setup, p: ReturnType<typeof paths>, bytes: number) {
  log(`${setup.kind}: eviction of 10%…`)
  // The cache holds its bound, above the high mark; the low mark is 90% of it.
  const bound = ['--max-cache-size', String(bytes), '--cache-high-watermark', '0.95', '--cache-low-watermark', '0.9']
  await markIncomplete(setup.cacheDir)
  const mirror = await start(setup, bound)
  await startTimes(mirror, p.blobs.at(-1)!, START_CAP_MS)
  await reconciled(mirror, setup.count, CAP_MS)
  const started = performance.now()
  const finished = (async () => {
    while (!mirror.logs.some((l) => l.msg === 'cache evicted to its low mark')) {
      if (performance.now() - started > CAP_MS) return false
      await sleep(10)
    }
    return true
  })()
  const latency = await headLatencies(mirror.url, p.manifests, ACCEPT_ALL, finished)
  const seconds = (performance.now() - started) / 1000
  const done = await finished
  const evicted = mirror.logs.find((l) => l.msg === 'cache evicted to its low mark')?.evicted
  await sleep(3000)
  const rss = await rssMiB(mirror.pid)
  await mirror.stop()
  report([
    `${setup.kind} ${setup.count}: eviction pass over 10% (s, evicted, HEAD p50/p99/max ms)`,
    `${fmt(seconds, 1)} s${done ? '' : ' (unfinished)'}, ${typeof evicted === 'number' ? evicted : '?'}, ` +
      `${fmt(latency.p50, 1)}/${fmt(latency.p99, 1)}/${fmt(latency.max, 1)} ms`,
    `${fmt(latency.perSecond)} HEADs/s`,
  ])
  report([`${setup.kind} ${setup.count}: idle RSS with maxCacheSize, after the pass`, `${fmt(rss)} MiB`, '-'])
}

async function main(): Promise<void> {
  log(`load before: ${await machineLoad()}`)
  await makeCache(join(DIR, String(COUNT)), COUNT, { onProgress: log })
  await makeCache(join(DIR, String(SMALL)), SMALL, { onProgress: log })
  const work = await makeTempDir('scale')
  try {
    for (const kind of KINDS) {
      for (const count of [COUNT, SMALL]) {
        const cacheDir = join(DIR, String(count))
        const { bytes } = await makeCache(cacheDir, count, { onProgress: log })
        const redis = kind === 'redis' ? await startRedis() : undefined
        // Nothing listens there: every answer comes from the cache.
        const upstreamPort = await freePort()
        const upstream = `http://127.0.0.1:${upstreamPort}`
        try {
          await writeIndexFacts(cacheDir, count, `127.0.0.1:${upstreamPort}`, redis?.url)
          await measure({ kind, cacheDir, count, redis, upstream, work: work.path }, bytes)
        } finally {
          await redis?.close()
        }
      }
    }
  } finally {
    await work.remove()
  }
  log(`load after: ${await machineLoad()}`)
  const lines = [
    '| measure | first start (after a crash) | clean restart |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

await main()
