import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { Registry } from 'prom-client'
import { DASHBOARD_FILE, dashboard } from '../../scripts/build-dashboard.js'
import { helpText, OPTIONS, optionOf } from '../../src/config/options.js'
import { optionsTable, renderReadme } from '../../scripts/build-docs.js'
import {
  createMetrics,
  registerCacheGauges,
  registerTopRepositories,
  registerUpstreamGauges,
} from '../../src/metrics/metrics.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test("README's generated parts are what `npm run docs` writes from the code", async (t) => {
  t.equal(readme, await renderReadme(readme), 'README.md is stale: run npm run docs')
})

t.test('the configuration table has every option with its env var, flag and default', async (t) => {
  const table = optionsTable()
  for (const option of OPTIONS) {
    const row = table.split('\n').find((line) => line.startsWith(`| \`${option.key}\` |`))
    t.ok(row, `${option.key} has a row`)
    t.match(row, `| \`${option.env}\` | \`${option.flag.split(' ')[0]!}\` |`, `${option.key}: env and flag`)
  }
  const rowOf = (key: string) => table.split('\n').find((line) => line.startsWith(`| \`${key}\` |`)) ?? ''
  t.ok(rowOf('listen').endsWith('| `0.0.0.0:5000` |'), 'a default value, as code')
  t.ok(rowOf('redisUrl').endsWith('| unset |'), 'no default')
  t.ok(rowOf('defaultNamespace').endsWith('| `library` for Docker Hub, else empty |'), 'a computed default, in words')
})

t.test('the help text says what the README says', async (t) => {
  t.equal(helpText(optionOf('tagTtl')), `${optionOf('tagTtl').description} (env MIRROR_TAG_TTL; default 300)`)
  t.match(helpText(optionOf('maxCacheSize')), /; default unbounded\)$/)
  t.match(helpText(optionOf('peerSecret')), /; default unset\)$/)
})

t.test('the example config file loads as it is', async (t) => {
  const path = new URL('../../deploy/config.example.yaml', import.meta.url).pathname
  const config = loadConfig({ configFile: path, env: {} })
  t.equal(config.upstream.host, 'registry-1.docker.io')
  t.equal(config.cacheDir, '/var/cache/registry-mirror')
})

t.test("README's metrics table lists every metric the mirror exports", async (t) => {
  const registry = new Registry()
  createMetrics(registry)
  registerTopRepositories(registry, 1)
  registerCacheGauges(registry, async () => ({
    bytes: 0,
    blobs: 0,
    maxBytes: 0,
    filesystemSizeBytes: 0,
    filesystemFreeBytes: 0,
    fillsInFlight: 0,
    indexUp: true,
  }))
  registerUpstreamGauges(registry, () => [{ name: 'docker.io', client: { offline: false, backingOff: false } }])
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('registry_mirror_'))
  t.ok(names.length >= 15)
  for (const name of names) t.match(readme, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name)
})

t.test('the Grafana dashboard file is what its generator writes', async (t) => {
  t.same(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')), dashboard(), 'run: npx tsx scripts/build-dashboard.ts')
})
