import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { runCli, spawnServer } from '../helpers/cli.js'
import { makeTempDir } from '../helpers/temp-dir.js'

// Nothing is pulled here: an upstream that is never asked is enough.
const UPSTREAM = 'http://127.0.0.1:9'

t.test('a second mirror on the same cache dir is refused; a stale lock is taken over', async (t) => {
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)
  const first = await spawnServer(UPSTREAM, cache.path)
  t.teardown(() => first.service.kill())
  const lock = JSON.parse(await readFile(join(cache.path, 'lock'), 'utf8')) as { pid: number; command: string }
  t.equal(lock.pid, first.service.proc.pid, 'the server holds the lock')
  t.equal(lock.command, 'serve')

  // `serve` by name is the default command.
  const second = await runCli(['serve', '--upstream', UPSTREAM, '--cache-dir', cache.path, '--listen', '127.0.0.1:0'])
  t.equal(second.code, 1)
  t.match(
    second.stderr,
    new RegExp(`^registry-mirror: cache dir .* is in use by a mirror serving it \\(pid ${lock.pid} on `),
  )
  t.equal(second.stderr.trim().split('\n').length, 1, 'one line')

  const reindex = await runCli(['reindex', '--upstream', UPSTREAM, '--cache-dir', cache.path])
  t.equal(reindex.code, 1, 'reindex does not run beside it either')

  await first.service.kill()
  t.ok((await readFile(join(cache.path, 'lock'), 'utf8')).includes(String(lock.pid)), 'SIGKILL leaves the lock')
  const third = await spawnServer(UPSTREAM, cache.path)
  t.pass('a mirror starts over the stale lock of a killed one')
  await third.service.close()
  await t.rejects(readFile(join(cache.path, 'lock')), { code: 'ENOENT' }, 'a mirror that exits releases it')
})
