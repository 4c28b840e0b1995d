import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { stripVTControlCharacters } from 'node:util'
import t, { type Test } from 'tap'
import { entry } from '../helpers/cli.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * Runs the real entry point until it is ready, then stops it with Ctrl-C (on a terminal)
 * or SIGINT, and returns what it wrote to stdout. `terminal` runs it under util-linux's
 * `script`, which gives it a pseudo-terminal as stdout, as a person's shell would.
 */
async function run(t: Test, flags: string[], terminal: boolean): Promise<{ code: number | null; lines: string[] }> {
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)
  const mirror = [
    process.execPath,
    ...entry([]),
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    'http://127.0.0.1:9',
    '--cache-dir',
    cache.path,
    ...flags,
  ]
  const child = terminal
    ? spawn('script', ['-qec', `exec ${mirror.join(' ')}`, '/dev/null'], { cwd: root, stdio: 'pipe' })
    : spawn(mirror[0]!, mirror.slice(1), { cwd: root, stdio: 'pipe' })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const ready = !out.includes('registry mirror ready')
    out += chunk.toString()
    if (ready && out.includes('registry mirror ready')) {
      // Ctrl-C typed at the terminal: its line discipline sends SIGINT to the mirror.
      if (terminal) child.stdin.write('\x03')
      else child.kill('SIGINT')
    }
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  const lines = stripVTControlCharacters(out)
    .split(/\r?\n/)
    .map((line) => line.replace(/^\^C/, ''))
    .filter((line) => line.trim() !== '')
  return { code, lines }
}

const isJson = (line: string): boolean => {
  try {
    return typeof (JSON.parse(line) as { msg?: unknown }).msg === 'string'
  } catch {
    return false
  }
}

t.test('on a terminal the logs are for people: time, level, message, then the fields', async (t) => {
  const { code, lines } = await run(t, [], true)
  t.equal(code, 0, 'Ctrl-C stops it cleanly')
  t.ok(lines.length >= 3)
  t.notOk(lines.some(isJson), 'no JSON line')
  t.match(lines.join('\n'), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: registry mirror ready \{"upstream":/m)
  t.match(lines.join('\n'), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: shutting down \{"signal":"SIGINT"/m)
})

t.test('without a terminal, JSON lines', async (t) => {
  const { code, lines } = await run(t, [], false)
  t.equal(code, 0)
  t.ok(lines.length >= 3)
  t.ok(lines.every(isJson), 'every line is JSON')
  t.ok(lines.some((line) => (JSON.parse(line) as { msg: string }).msg === 'registry mirror ready'))
})

t.test('--log-format json on a terminal gives JSON lines', async (t) => {
  const { code, lines } = await run(t, ['--log-format', 'json'], true)
  t.equal(code, 0)
  t.ok(lines.length >= 3)
  t.ok(lines.every(isJson), 'JSON on a terminal when asked')
})
