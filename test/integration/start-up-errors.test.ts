import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { entry } from '../helpers/cli.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { makeTestCa } from '../helpers/tls-ca.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** The real entry point, run to its exit: its code and what it told the operator. */
async function start(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, entry(args), {
      cwd: root,
      timeout: 20_000,
    })
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('exit', (code) => resolve({ code, stderr }))
  })
}

t.test('every configuration problem at once, exit 2', async (t) => {
  const result = await start(['--listen', 'nowhere', '--upstream', 'ftp://x', '--redis-url', 'redis-sentinel://h'])
  t.equal(result.code, 2)
  t.match(result.stderr, /invalid configuration/)
  t.match(result.stderr, /listen \(MIRROR_LISTEN, --listen\)/)
  t.match(result.stderr, /upstream \(MIRROR_UPSTREAM, --upstream\)/)
  t.match(result.stderr, /redisUrl \(MIRROR_REDIS_URL, --redis-url\)/)
})

t.test('a cache dir that cannot be made, or a port in use: one line that says why, exit 1', async (t) => {
  const dir = await makeTempDir('start-up')
  t.teardown(dir.remove)
  const file = join(dir.path, 'a-file')
  await writeFile(file, '')
  const badDir = await start(['--cache-dir', join(file, 'cache'), '--listen', '127.0.0.1:0'])
  t.equal(badDir.code, 1)
  t.match(badDir.stderr, /^registry-mirror: cannot start: ENOTDIR: not a directory, mkdir '.*a-file\/cache/)
  t.notMatch(badDir.stderr, /\n\s+at /, 'no stack trace')

  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const { port } = taken.address() as { port: number }
  const inUse = await start(['--cache-dir', join(dir.path, 'cache'), '--listen', `127.0.0.1:${port}`])
  t.equal(inUse.code, 1)
  t.match(inUse.stderr, /cannot start: listen EADDRINUSE/)
})

t.test('TLS files that will not do: one line that names the file and says why, exit 1', async (t) => {
  const ca = await makeTestCa()
  t.teardown(ca.remove)
  const one = await ca.issue('one')
  const dir = await makeTempDir('start-up')
  t.teardown(dir.remove)
  const serve = (cert: string, key: string) =>
    start(['--cache-dir', join(dir.path, 'cache'), '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key])
  const cases: Array<[string, string, string, RegExp]> = [
    ['a missing file', join(dir.path, 'missing.crt'), one.keyFile, /TLS certificate .*missing\.crt: ENOENT/],
    ['a key for a certificate', one.keyFile, one.keyFile, /TLS certificate .*one\.key: not a PEM certificate$/],
  ]
  for (const [what, cert, key, reason] of cases) {
    const result = await serve(cert, key)
    t.equal(result.code, 1, what)
    t.match(result.stderr.trim(), /^registry-mirror: cannot start: /, what)
    t.match(result.stderr.trim(), reason, what)
    t.equal(result.stderr.trim().split('\n').length, 1, `${what}: one line, no stack`)
  }
})
