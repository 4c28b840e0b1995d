import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { Registry } from 'prom-client'
import { DASHBOARD_FILE, dashboard } from '../../scripts/build-dashboard.js'
import { OPTIONS } from '../../src/config/options.js'
import { createMetrics, registerCacheGauges, registerTopRepositories } from '../../src/metrics/metrics.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test("README's configuration table lists every option with its env var, flag and default", async (t) => {
  const rows = readme
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
  for (const option of OPTIONS) {
    const cells = rows.find((r) => r[1] === `\`${option.key}\``)
    t.ok(cells, `${option.key} has a row`)
    t.equal(cells?.[2], `\`${option.env}\``, `${option.key}: env`)
    t.equal(cells?.[3], `\`${option.flag.split(' ')[0]!}\``, `${option.key}: flag`)
    t.equal(cells?.[5]?.replace(/`/g, ''), option.defaultText.replace(/`/g, ''), `${option.key}: default`)
  }
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
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('registry_mirror_'))
  t.ok(names.length >= 15)
  for (const name of names) t.match(readme, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name)
})

t.test('the Grafana dashboard file is what its generator writes', async (t) => {
  t.same(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')), dashboard(), 'run: npx tsx scripts/build-dashboard.ts')
})
