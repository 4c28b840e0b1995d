// Cold pulls from an HTTPS upstream, as Docker Hub, ghcr.io and every DHE instance are:
// CNCF Distribution serving the seeded storage over TLS with a certificate from a CA the
// bench makes, pulled directly, through the mirror (which trusts the CA through
// NODE_EXTRA_CA_CERTS) and through Distribution's proxy (which trusts it through
// SSL_CERT_FILE). Part of `npm run bench`; alone: `npm run build && tsx bench/tls-pulls.ts`.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRegistry, type Registry } from '../test/helpers/registry.js'
import { makeTestCa, type TestCa } from '../test/helpers/tls-ca.js'
import type { TokenServer } from '../test/helpers/token-server.js'
import { cpuSeconds } from './hot-path.js'
import { median, settleDisk, timedPull } from './load.js'
import { startMirrorProcess, type Server } from './peers.js'
import { REPO, WARM_UP_REPO } from './seed.js'

const root = fileURLToPath(new URL('..', import.meta.url))

export interface TlsUpstream {
  registry: Registry
  ca: TestCa
  close: () => Promise<void>
}

/** A second Distribution on the seeded upstream's storage and token server, serving HTTPS. */
export async function startTlsUpstream(seeded: { registry: Registry; tokens: TokenServer }): Promise<TlsUpstream> {
  const ca = await makeTestCa()
  const certificate = await ca.issue('upstream')
  const registry = await startRegistry({
    storageDir: seeded.registry.storageDir,
    tokenServer: seeded.tokens,
    quiet: true,
    tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, ca: ca.ca },
  })
  return {
    registry,
    ca,
    close: async () => {
      await registry.close()
      await ca.remove()
    },
  }
}

const hostOf = (url: string) => url.replace(/^https?:\/\//, '')

export interface TlsPullFigures {
  /** Seconds of each round's pull, by way. */
  direct: number[]
  mirror: number[]
  distribution: number[]
  /** CPU seconds the mirror and the proxy spent on each of their cold pulls. */
  mirrorCpu: number[]
  distributionCpu: number[]
}

/** Each round's ratio to its own direct pull, and their median. */
export function ratios(figures: TlsPullFigures, way: 'mirror' | 'distribution') {
  const each = figures[way].map((seconds, i) => seconds / figures.direct[i]!)
  return { each, median: median(each) }
}

/**
 * Rounds of a cold pull of the 260 MiB image three ways: directly over TLS, through a
 * fresh mirror and through a fresh Distribution proxy, both in front of the TLS upstream.
 * The order turns each round, so that neither way always follows the other. Each fresh
 * server first pulls the small warm-up image, so its start-up is not timed.
 */
export async function tlsPullRounds(upstream: TlsUpstream, work: string, rounds: number): Promise<TlsPullFigures> {
  const figures: TlsPullFigures = { direct: [], mirror: [], distribution: [], mirrorCpu: [], distributionCpu: [] }
  const out = join(work, 'tls-pulled')
  const trust = upstream.ca.caFile
  for (let round = 0; round < rounds; round++) {
    const mirrorCache = join(work, `tls-mirror-${round}`)
    const distributionCache = join(work, `tls-distribution-${round}`)
    const mirror = await startMirrorProcess(root, upstream.registry.url, mirrorCache, [], {
      ...process.env,
      NODE_EXTRA_CA_CERTS: trust,
    })
    const proxy = await startRegistry({
      storageDir: distributionCache,
      proxy: { remoteUrl: upstream.registry.url },
      trust,
      quiet: true,
    })
    const distribution: Server = { name: 'Distribution proxy', url: proxy.url, pid: proxy.pid, close: proxy.close }
    try {
      for (const server of [mirror, distribution]) await timedPull(`${hostOf(server.url)}/${WARM_UP_REPO}:1`, out)
      await settleDisk()
      const through = async (server: Server, cpu: number[]) => {
        const before = await cpuSeconds(server.pid)
        const seconds = await timedPull(`${hostOf(server.url)}/${REPO}:1`, out)
        cpu.push((await cpuSeconds(server.pid)) - before)
        return seconds
      }
      const ways: Array<['direct' | 'mirror' | 'distribution', () => Promise<number>]> = [
        ['direct', () => timedPull(`${hostOf(upstream.registry.url)}/${REPO}:1`, out, upstream.ca.certDir)],
        ['mirror', () => through(mirror, figures.mirrorCpu)],
        ['distribution', () => through(distribution, figures.distributionCpu)],
      ]
      for (let i = 0; i < ways.length; i++) {
        const [way, pull] = ways[(round + i) % ways.length]!
        figures[way].push(await pull())
      }
    } finally {
      await mirror.close()
      await distribution.close()
      await rm(mirrorCache, { recursive: true, force: true })
      await rm(distributionCache, { recursive: true, force: true })
    }
  }
  return figures
}

export function printTlsRounds(figures: TlsPullFigures): void {
  for (const way of Object.keys(figures) as Array<keyof TlsPullFigures>) {
    const unit = way.endsWith('Cpu') ? 's of CPU' : 's'
    process.stderr.write(`  TLS ${way}: ${figures[way].map((v) => v.toFixed(2)).join(' ')} ${unit}\n`)
  }
}

/** Alone: seeds its own upstream and prints the two ratios. */
async function main(): Promise<void> {
  const { makeTempDir } = await import('../test/helpers/temp-dir.js')
  const { seedUpstream } = await import('./seed.js')
  const work = await makeTempDir('bench-tls')
  const seeded = await seedUpstream(work.path)
  const upstream = await startTlsUpstream(seeded)
  try {
    const figures = await tlsPullRounds(upstream, work.path, Number(process.env.BENCH_ROUNDS ?? 5))
    printTlsRounds(figures)
    for (const way of ['mirror', 'distribution'] as const) {
      const r = ratios(figures, way)
      process.stdout.write(
        `${way}/direct TLS: ${r.median.toFixed(2)}x (rounds ${r.each.map((x) => x.toFixed(2)).join(' ')})\n`,
      )
    }
  } finally {
    await upstream.close()
    await seeded.close()
    await work.remove()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
