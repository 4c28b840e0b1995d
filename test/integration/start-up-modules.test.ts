import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { freePort } from '../helpers/ports.js'
import { startService } from '../helpers/service-process.js'
import { makeTempDir } from '../helpers/temp-dir.js'

// Loading modules is most of a start's time: the server loads what serving needs and no
// more, so that it answers within a second of its start, and `--help` loads no server.
const root = fileURLToPath(new URL('../..', import.meta.url))
const traced = (entryArgs: string[]) => [
  '--import',
  'tsx',
  '--import',
  './test/helpers/loaded-packages.ts',
  ...entryArgs,
]

/** Packages only other commands, other settings or route schemas need. */
const NOT_FOR_SERVING = ['tar-stream', 'cli-progress', 'yaml', 'ajv', 'pino-pretty', 'ioredis']
/** What serving loads. */
const SERVING = ['fastify', 'undici', 'pino', 'prom-client']

async function loaded(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '')
}

t.test('serving with the embedded index and JSON logs loads none of the other commands’ packages', async (t) => {
  const dir = await makeTempDir('start-up-modules')
  t.teardown(dir.remove)
  const file = join(dir.path, 'loaded.txt')
  const port = await freePort()
  // An upstream on loopback's discard port: the start-up probe never leaves the machine.
  const upstream = ['--upstream', 'http://127.0.0.1:9']
  const args = ['src/main.ts', '--listen', `127.0.0.1:${port}`, ...upstream, '--cache-dir', join(dir.path, 'cache')]
  const server = await startService(process.execPath, traced([...args, '--log-format', 'json']), {
    cwd: root,
    env: { ...process.env, LOADED_PACKAGES_FILE: file },
    ready: /registry mirror ready/,
  })
  await server.close()
  const packages = await loaded(file)
  for (const name of SERVING) t.ok(packages.includes(name), `${name} loaded`)
  for (const name of NOT_FOR_SERVING) t.notOk(packages.includes(name), `${name} not loaded`)
})

t.test('--help loads the command line alone', async (t) => {
  const dir = await makeTempDir('start-up-modules')
  t.teardown(dir.remove)
  const file = join(dir.path, 'loaded.txt')
  const { stdout } = await promisify(execFile)(process.execPath, traced(['src/main.ts', '--help']), {
    cwd: root,
    env: { ...process.env, LOADED_PACKAGES_FILE: file },
  })
  t.match(stdout, /Usage: registry-mirror/)
  t.match(stdout, /prefetch \[options\] \[images\.\.\.\]/)
  const packages = await loaded(file)
  t.ok(packages.includes('commander'), 'commander loaded')
  for (const name of [...SERVING, ...NOT_FOR_SERVING]) t.notOk(packages.includes(name), `${name} not loaded`)
})
