import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { OPTIONS } from '../../src/config/options.js'

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
