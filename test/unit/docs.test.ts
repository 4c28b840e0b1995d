import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { parse } from 'yaml'
import { DASHBOARD_FILE, dashboard } from '../../scripts/build-dashboard.js'
import { helpText, OPTIONS, optionOf } from '../../src/config/options.js'
import { GENERATED, mirrorRegistry, optionsTable, render } from '../../scripts/build-docs.js'

/** The settings README.md shows everyone. */
const FIVE_SETTINGS = ['upstream', 'cacheDir', 'maxCacheSize', 'redisUrl', 'tlsCert'] as const

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

t.test("the docs' generated parts are what `npm run docs` writes from the code", async (t) => {
  for (const { file, blocks } of GENERATED) {
    const text = readFileSync(file, 'utf8')
    t.equal(text, await render(file, text, blocks), `${file.pathname} is stale: run npm run docs`)
  }
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

t.test('the metrics reference lists every metric the mirror exports', async (t) => {
  const metrics = read('docs/metrics.md')
  const names = (await mirrorRegistry().getMetricsAsJSON())
    .map((m) => m.name)
    .filter((n) => n.startsWith('registry_mirror_'))
  t.ok(names.length >= 15)
  for (const name of names) t.match(metrics, new RegExp(`^\\| \`${name}\` +\\|`, 'm'), name)
})

t.test('the example config file names every setting, set or commented out', async (t) => {
  const text = read('deploy/config.example.yaml')
  const set = Object.keys(parse(text) as object)
  for (const option of OPTIONS) {
    t.ok(set.includes(option.key) || new RegExp(`^# ${option.key}:`, 'm').test(text), option.key)
  }
})

t.test('README stays a front page, and every file it links to exists', async (t) => {
  const readme = read('README.md')
  t.ok(readme.length <= 11 * 1024, `README.md is ${readme.length} bytes`)
  const links = [...readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l))
  t.ok(links.length >= 10)
  for (const link of links) t.ok(existsSync(new URL(`../../${link}`, import.meta.url)), link)
  for (const key of FIVE_SETTINGS) t.match(readme, `\`${optionOf(key).env}\``, `${key} among the five settings`)
})

t.test('the Grafana dashboard file is what its generator writes', async (t) => {
  t.same(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')), dashboard(), 'run: npx tsx scripts/build-dashboard.ts')
})
