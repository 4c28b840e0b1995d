import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import t from 'tap'
import {
  CacheDirBusyError,
  CacheLock,
  isStale,
  lockPath,
  parseProcStat,
  type LockHolder,
} from '../../src/cache/cache-lock.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const holder = (over: Partial<LockHolder> = {}): LockHolder => ({
  pid: 4242,
  startTime: 'proc:1000',
  host: 'here',
  command: 'serve',
  since: '2024-01-01T00:00:00.000Z',
  ...over,
})

t.test('staleness: a dead PID, or a live PID that started at another time', async (t) => {
  const table: Array<[string, LockHolder, { alive: boolean; startTime?: string }, boolean]> = [
    ['process gone', holder(), { alive: false }, true],
    ['same process', holder(), { alive: true, startTime: 'proc:1000' }, false],
    ['PID reused', holder(), { alive: true, startTime: 'proc:2000' }, true],
    ['start time unreadable: trust the PID', holder(), { alive: true }, false],
    [
      'holder without /proc: trust the PID',
      holder({ startTime: 'epoch:5' }),
      { alive: true, startTime: 'proc:2000' },
      false,
    ],
    ['another host cannot be checked', holder({ host: 'elsewhere' }), { alive: false }, false],
  ]
  for (const [what, h, state, stale] of table) t.equal(isStale(h, 'here', state), stale, what)
})

t.test('/proc/<pid>/stat: state and start time, whatever the command name holds', async (t) => {
  const fields = (name: string, state: string) =>
    `123 (${name}) ${state} 1 123 123 0 -1 4194560 100 0 0 0 5 2 0 0 20 0 1 0 987654 1000 100`
  t.same(parseProcStat(fields('node', 'S')), { state: 'S', startTime: 'proc:987654' })
  t.same(parseProcStat(fields('a) (b c', 'R')), { state: 'R', startTime: 'proc:987654' })
  t.same(parseProcStat(fields('x', 'Z')), { state: 'Z', startTime: 'proc:987654' })
  t.equal(parseProcStat(''), undefined)
  t.equal(parseProcStat('1 (x) S 1'), undefined)
})

t.test('one holder at a time; the refusal names it', async (t) => {
  const dir = await makeTempDir('lock')
  t.teardown(dir.remove)
  const first = await CacheLock.acquire(dir.path, { command: 'serve', control: '/x/control.sock' })
  const written = JSON.parse(await readFile(lockPath(dir.path), 'utf8')) as LockHolder
  t.equal(written.pid, process.pid)
  t.equal(written.control, '/x/control.sock')
  t.match(written.startTime, /^(proc|epoch):\d+$/)
  const refused = await CacheLock.acquire(dir.path, { command: 'import' }).catch((e: unknown) => e)
  t.ok(refused instanceof CacheDirBusyError)
  t.match((refused as Error).message, new RegExp(`in use by a mirror serving it \\(pid ${process.pid} on `))
  t.same(await CacheLock.holder(dir.path), written)
  await first.release()
  t.equal(await CacheLock.holder(dir.path), undefined)
  const second = await CacheLock.acquire(dir.path, { command: 'import' })
  second.releaseSync()
  t.equal(await CacheLock.holder(dir.path), undefined)
})

t.test('a stale lock is taken over: dead PID, reused PID, unreadable content', async (t) => {
  const dir = await makeTempDir('lock')
  t.teardown(dir.remove)
  const child = spawn(process.execPath, ['-e', ''])
  await once(child, 'exit')
  const stale: LockHolder[] = [
    holder({ pid: child.pid!, host: hostname() }),
    holder({ pid: process.pid, startTime: 'proc:1', host: hostname() }),
  ]
  for (const h of stale) {
    await writeFile(lockPath(dir.path), JSON.stringify(h))
    const lock = await CacheLock.acquire(dir.path, { command: 'prefetch' })
    t.equal(lock.holder.pid, process.pid, `took over from ${h.pid} ${h.startTime}`)
    await lock.release()
  }
  await writeFile(lockPath(dir.path), '{"pid":')
  const lock = await CacheLock.acquire(dir.path, { command: 'prefetch' })
  await lock.release()
  t.pass('took over an unreadable lock')
})

t.test('a holder on another host is left alone', async (t) => {
  const dir = await makeTempDir('lock')
  t.teardown(dir.remove)
  await writeFile(lockPath(dir.path), JSON.stringify(holder({ host: 'another-container' })))
  await t.rejects(CacheLock.acquire(dir.path, { command: 'import' }), /pid 4242 on another-container/)
})
