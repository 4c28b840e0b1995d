// Side-by-side figures for registry-mirror, CNCF Distribution in proxy mode, nginx
// (sendfile) and an empty fastify route over one seeded local upstream. Run with
// `npm run bench`; needs docker-registry, skopeo, nginx, wrk, ab and curl (Debian packages).
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRegistry } from '../test/helpers/registry.js'
import { ACCEPT_ALL } from '../test/helpers/seeded-images.js'
import { startRedis } from '../test/helpers/redis.js'
import { makeTempDir } from '../test/helpers/temp-dir.js'
import { hotPath, startEmptyRoute } from './hot-path.js'
import { headsPerSecond, median, settleDisk, singleGetsMBps, timedPull, wrk } from './load.js'
import { peakRssMiB, resetPeakRss, startMirrorProcess, startNginx, type Server } from './peers.js'
import { REPO, WARM_UP_REPO, seedUpstream } from './seed.js'
import { printTlsRounds, ratios, startTlsUpstream, tlsPullRounds } from './tls-pulls.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
/** Pull times swing with the disk, so each is the median of fresh rounds. */
const PULL_ROUNDS = 5

interface Row {
  what: string
  unit: string
  mirror: number
  peerName: string
  peer: number
  target?: string
}

function format(value: number, unit: string): string {
  return `${value.toFixed(unit === 'req/s' ? 0 : unit === 's' ? 2 : 1)} ${unit}`
}

function printTable(rows: Row[]): void {
  const lines = [
    '| measure | registry-mirror | peer | peer figure | ratio | target |',
    '|---|---:|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.what} | ${format(r.mirror, r.unit)} | ${r.peerName} | ${format(r.peer, r.unit)} | ` +
        `${r.peer === 0 ? '-' : (r.mirror / r.peer).toFixed(2) + 'x'} | ${r.target ?? ''} |`,
    ),
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

/** The nginx path of a blob in the mirror's cache dir (nginx serves that dir as it is). */
function blobFile(digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return `/blobs/sha256/${hex.slice(0, 2)}/${hex}`
}

const imageOf = (url: string) => `${url.slice('http://'.length)}/${REPO}:1`
const warmUpImageOf = (url: string) => `${url.slice('http://'.length)}/${WARM_UP_REPO}:1`

interface PullFigures {
  direct: number
  mirrorCold: number
  distCold: number
  mirrorWarm: number
  distWarm: number
}

/**
 * Rounds of: a direct pull, then a cold and a warm pull through a fresh mirror and a fresh
 * Distribution proxy. A cold pull is a cache miss in a running server, as at a site whose
 * mirror has run for weeks: each fresh server first pulls a small unrelated image, so its
 * own start-up (lazy compilation, first connections) is not timed. The last round's
 * servers are left running, warm, for what follows.
 */
async function pullRounds(upstreamUrl: string, work: string) {
  const times: Record<keyof PullFigures, number[]> = {
    direct: [],
    mirrorCold: [],
    distCold: [],
    mirrorWarm: [],
    distWarm: [],
  }
  const out = join(work, 'pulled')
  let servers: { mirror: Server; distribution: Server; mirrorCache: string; distributionCache: string } | undefined
  for (let round = 0; round < PULL_ROUNDS; round++) {
    if (servers !== undefined) {
      await servers.mirror.close()
      await servers.distribution.close()
      // Each round starts from the same disk state: this VM's disk slows as it fills.
      await rm(servers.mirrorCache, { recursive: true, force: true })
      await rm(servers.distributionCache, { recursive: true, force: true })
    }
    const mirrorCache = join(work, `mirror-cache-${round}`)
    const distributionCache = join(work, `distribution-cache-${round}`)
    const mirror = await startMirrorProcess(root, upstreamUrl, mirrorCache)
    const proxy = await startRegistry({
      storageDir: distributionCache,
      proxy: { remoteUrl: upstreamUrl },
      quiet: true,
    })
    const distribution = { name: 'Distribution proxy', url: proxy.url, pid: proxy.pid, close: proxy.close }
    servers = { mirror, distribution, mirrorCache, distributionCache }
    for (const server of [mirror, distribution]) await timedPull(warmUpImageOf(server.url), out)
    await settleDisk()
    times.direct.push(await timedPull(imageOf(upstreamUrl), out))
    times.mirrorCold.push(await timedPull(imageOf(mirror.url), out))
    times.distCold.push(await timedPull(imageOf(distribution.url), out))
    times.mirrorWarm.push(await timedPull(imageOf(mirror.url), out))
    times.distWarm.push(await timedPull(imageOf(distribution.url), out))
  }
  // Every round's figure, for judging the medians in the table.
  for (const [what, values] of Object.entries(times)) {
    process.stderr.write(`  ${what}: ${values.map((v) => v.toFixed(2)).join(' ')} s\n`)
  }
  const figures = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as unknown as PullFigures
  return { figures, ...servers! }
}

async function main(): Promise<void> {
  const work = await makeTempDir('bench')
  const servers: Server[] = []
  try {
    process.stderr.write('seeding the upstream (256 MiB + 4 MiB layers)…\n')
    const upstream = await seedUpstream(work.path)
    servers.push({ name: 'upstream', url: '', pid: 0, close: () => upstream.close() })
    const rows: Row[] = []

    process.stderr.write(`cold and warm pulls, ${PULL_ROUNDS} rounds…\n`)
    const { figures, mirror, distribution, mirrorCache } = await pullRounds(upstream.registry.url, work.path)
    servers.push(mirror, distribution)
    const pull = 'pull of a 260 MiB image (skopeo)'
    const direct = { peerName: 'direct from upstream', peer: figures.direct }
    const viaDistribution = 'Distribution proxy'
    rows.push(
      { what: `cold ${pull}`, unit: 's', mirror: figures.mirrorCold, ...direct, target: '≤ 1.1x direct' },
      {
        what: `cold ${pull}`,
        unit: 's',
        mirror: figures.mirrorCold,
        peerName: viaDistribution,
        peer: figures.distCold,
      },
      { what: `warm ${pull}`, unit: 's', mirror: figures.mirrorWarm, ...direct },
      {
        what: `warm ${pull}`,
        unit: 's',
        mirror: figures.mirrorWarm,
        peerName: viaDistribution,
        peer: figures.distWarm,
      },
    )

    process.stderr.write(`cold pulls from an HTTPS upstream, ${PULL_ROUNDS} rounds…\n`)
    const tlsUpstream = await startTlsUpstream(upstream)
    servers.push({ name: 'TLS upstream', url: tlsUpstream.registry.url, pid: 0, close: tlsUpstream.close })
    const tls = await tlsPullRounds(tlsUpstream, work.path, PULL_ROUNDS)
    printTlsRounds(tls)
    const tlsPull = `cold ${pull} from an HTTPS upstream`
    const tlsMirror = ratios(tls, 'mirror')
    const tlsDistribution = ratios(tls, 'distribution')
    process.stderr.write(
      `  each round, over its direct pull: mirror ${tlsMirror.each.map((r) => r.toFixed(2)).join(' ')}, ` +
        `Distribution proxy ${tlsDistribution.each.map((r) => r.toFixed(2)).join(' ')}\n`,
    )
    rows.push(
      {
        what: tlsPull,
        unit: 's',
        mirror: median(tls.mirror),
        peerName: 'direct over TLS',
        peer: median(tls.direct),
        target: `≤ 1.1x direct (median of rounds: ${tlsMirror.median.toFixed(2)}x)`,
      },
      {
        what: tlsPull,
        unit: 's',
        mirror: median(tls.mirror),
        peerName: viaDistribution,
        peer: median(tls.distribution),
        target: `faster (its median over direct: ${tlsDistribution.median.toFixed(2)}x)`,
      },
      {
        what: 'CPU time of that pull in the server',
        unit: 's',
        mirror: median(tls.mirrorCpu),
        peerName: viaDistribution,
        peer: median(tls.distributionCpu),
      },
    )

    const nginx = await startNginx(join(work.path, 'nginx'), mirrorCache)
    servers.push(nginx)
    const blobUrl = (base: string, digest: string) => `${base}/v2/${REPO}/blobs/${digest}`

    process.stderr.write('single 256 MiB GETs…\n')
    await settleDisk()
    const single = 'one warm 256 MiB blob GET (curl)'
    const [mirrorSingle = 0, nginxSingle = 0, distSingle = 0] = await singleGetsMBps([
      blobUrl(mirror.url, upstream.big.digest),
      nginx.url + blobFile(upstream.big.digest),
      blobUrl(distribution.url, upstream.big.digest),
    ])
    rows.push(
      {
        what: single,
        unit: 'MB/s',
        mirror: mirrorSingle,
        peerName: 'nginx sendfile',
        peer: nginxSingle,
        target: '≥ 0.9x nginx',
      },
      { what: single, unit: 'MB/s', mirror: mirrorSingle, peerName: viaDistribution, peer: distSingle },
    )

    process.stderr.write('50 concurrent 4 MiB GETs…\n')
    await settleDisk()
    const streaming = async (server: Server, url: string) => {
      await resetPeakRss(server.pid)
      const result = await wrk(url, { connections: 50, seconds: SECONDS })
      return { ...result, rss: await peakRssMiB(server.pid) }
    }
    const mirror50 = await streaming(mirror, blobUrl(mirror.url, upstream.small.digest))
    const nginx50 = await streaming(nginx, nginx.url + blobFile(upstream.small.digest))
    const dist50 = await streaming(distribution, blobUrl(distribution.url, upstream.small.digest))
    const many = '50 concurrent warm 4 MiB GETs (wrk)'
    rows.push(
      {
        what: many,
        unit: 'MB/s',
        mirror: mirror50.mbPerSecond,
        peerName: 'nginx sendfile',
        peer: nginx50.mbPerSecond,
        target: '≥ 0.9x nginx',
      },
      { what: many, unit: 'MB/s', mirror: mirror50.mbPerSecond, peerName: viaDistribution, peer: dist50.mbPerSecond },
    )

    process.stderr.write('manifest HEADs…\n')
    await settleDisk()
    const head = { connections: 32, seconds: SECONDS, headers: { accept: ACCEPT_ALL } }
    const mirrorHead = await headsPerSecond(`${mirror.url}/v2/${REPO}/manifests/1`, head)
    const distHead = await headsPerSecond(`${distribution.url}/v2/${REPO}/manifests/1`, head)
    const heads = 'manifest HEAD of a cached tag, 32 connections'
    const rss = 'peak RSS while 50 clients stream'
    rows.push(
      {
        what: heads,
        unit: 'req/s',
        mirror: mirrorHead.requestsPerSecond,
        peerName: viaDistribution,
        peer: distHead.requestsPerSecond,
        target: '≥ 10x Distribution',
      },
      {
        what: rss,
        unit: 'MiB',
        mirror: mirror50.rss,
        peerName: 'nginx (master + workers)',
        peer: nginx50.rss,
        target: '< 150 MiB',
      },
      { what: rss, unit: 'MiB', mirror: mirror50.rss, peerName: viaDistribution, peer: dist50.rss },
      {
        what: 'peak RSS, 50 clients then manifest HEADs',
        unit: 'MiB',
        mirror: await peakRssMiB(mirror.pid),
        peerName: viaDistribution,
        peer: await peakRssMiB(distribution.pid),
      },
    )
    process.stderr.write('manifest HEADs next to an empty fastify route…\n')
    const emptyRoute = await startEmptyRoute()
    servers.push(emptyRoute)
    const hot = await hotPath(mirror, emptyRoute, { path: `/v2/${REPO}/manifests/1`, seconds: SECONDS, rounds: 3 })
    for (const [m, r] of hot.rounds) {
      process.stderr.write(`  mirror ${m.toFixed(0)} req/s, empty route ${r.toFixed(0)} req/s\n`)
    }
    if (hot.failed > 0) process.stderr.write(`warning: hot path: ${hot.failed} failed or non-2xx answers\n`)
    const hotHeads = 'manifest HEAD of a cached tag (ab -k -c 32)'
    rows.push(
      {
        what: hotHeads,
        unit: 'req/s',
        mirror: hot.mirror,
        peerName: 'empty fastify route, same headers',
        peer: hot.reference,
        target: '≥ 0.7x',
      },
      {
        what: 'CPU time per cached-tag HEAD',
        unit: 'µs',
        mirror: hot.mirrorCpuMicros,
        peerName: 'empty fastify route, same headers',
        peer: hot.referenceCpuMicros,
      },
    )
    for (const [name, result] of Object.entries({ mirror50, nginx50, dist50, mirrorHead, distHead })) {
      if (result.non2xx > 0) process.stderr.write(`warning: ${name}: ${result.non2xx} non-2xx responses\n`)
    }
    process.stderr.write('the hit path with the Redis index…\n')
    const redis = await startRedis()
    servers.push({ name: 'redis', url: redis.url, pid: 0, close: redis.close })
    const withRedis = await startMirrorProcess(root, upstream.registry.url, join(work.path, 'redis-cache'), [
      '--redis-url',
      redis.url,
    ])
    servers.push(withRedis)
    await timedPull(imageOf(withRedis.url), join(work.path, 'pulled'))
    const redisHead = await headsPerSecond(`${withRedis.url}/v2/${REPO}/manifests/1`, head)
    const redis50 = await wrk(blobUrl(withRedis.url, upstream.small.digest), { connections: 50, seconds: SECONDS })
    rows.push(
      {
        what: heads,
        unit: 'req/s',
        mirror: redisHead.requestsPerSecond,
        peerName: 'same, embedded index',
        peer: mirrorHead.requestsPerSecond,
        target: 'Redis index',
      },
      {
        what: many,
        unit: 'MB/s',
        mirror: redis50.mbPerSecond,
        peerName: 'same, embedded index',
        peer: mirror50.mbPerSecond,
        target: 'Redis index',
      },
    )
    printTable(rows)
  } finally {
    for (const server of servers.reverse()) await server.close().catch(() => {})
    await work.remove()
  }
}

await main()
