// deploy/systemd: the unit passes `systemd-analyze verify` and keeps its sandbox, and the
// sysusers file makes the user the unit runs as.
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { makeTempDir } from '../helpers/temp-dir.js'

const run = promisify(execFile)
const DIR = new URL('../../deploy/systemd/', import.meta.url).pathname
const UNIT = 'registry-mirror.service'
/** `systemd-analyze security` scores 0 (locked down) to 10; "OK" ends at 2. */
const MAX_EXPOSURE = 2

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** The unit's `Key=value` lines (the last wins, as in systemd, except where a key adds up). */
function directives(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m !== null) found.set(m[1]!, [...(found.get(m[1]!) ?? []), m[2]!])
  }
  return found
}

/**
 * verify needs ExecStart's program to exist, and `registry-mirror` is not installed here:
 * the unit is verified as written but for that path, which becomes this Node's.
 */
async function verifiable(unit: string): Promise<string> {
  const dir = await makeTempDir('systemd')
  t.teardown(dir.remove)
  const path = join(dir.path, UNIT)
  await writeFile(path, unit.replace(/^ExecStart=registry-mirror$/m, `ExecStart=${process.execPath}`))
  return path
}

/** verify's complaints: it exits 0 on a value it cannot parse, so its output is what counts. */
async function verify(unit: string): Promise<string> {
  const { stdout, stderr } = await run('systemd-analyze', ['verify', '--man=no', await verifiable(unit)])
  return (stdout + stderr).trim()
}

const unit = await readFile(join(DIR, UNIT), 'utf8')
const settings = directives(unit)
const one = (key: string) => settings.get(key)?.at(-1)

t.test('the unit runs the installed command as its own user with its state directory', async (t) => {
  t.equal(one('ExecStart'), 'registry-mirror', 'the command `npm install -g` puts on PATH')
  t.ok(settings.get('Environment')?.includes('NODE_OPTIONS=--max-semi-space-size=2'), "npm start's Node flag")
  t.equal(one('User'), 'registry-mirror')
  t.equal(one('StateDirectory'), 'registry-mirror')
  t.ok(settings.get('Environment')?.includes('MIRROR_CACHE_DIR=/var/lib/registry-mirror'), 'the cache in it')
  t.equal(one('EnvironmentFile'), '-/etc/registry-mirror/env')
  t.equal(one('Restart'), 'on-failure')
  for (const [key, value] of [
    ['ProtectSystem', 'strict'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['CapabilityBoundingSet', ''],
  ]) {
    t.equal(one(key!), value, `${key!}=${value!}`)
  }
  t.notOk(settings.has('MemoryDenyWriteExecute'), "no MemoryDenyWriteExecute: V8's JIT writes code")
})

if (!has('systemd-analyze')) {
  t.test('systemd-analyze', async (t) => {
    t.plan(0, 'needs systemd-analyze (apt-get install systemd)')
  })
} else {
  t.test('systemd-analyze verify finds nothing wrong with the unit', async (t) => {
    t.equal(await verify(unit), '')
  })

  t.test('and would find a mistake in it', async (t) => {
    t.match(await verify(unit.replace('ProtectSystem=strict', 'ProtectSystem=strickt')), /ProtectSystem|protect system/)
  })

  t.test(`its sandbox scores under ${MAX_EXPOSURE} in systemd-analyze security`, async (t) => {
    const { stdout } = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', await verifiable(unit)])
    const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(stdout)?.[1])
    t.ok(exposure < MAX_EXPOSURE, `exposure ${exposure}`)
  })
}

if (!has('systemd-sysusers')) {
  t.test('systemd-sysusers', async (t) => {
    t.plan(0, 'needs systemd-sysusers (apt-get install systemd)')
  })
} else {
  t.test("the sysusers file creates the unit's user, at home in its state directory", async (t) => {
    const root = await makeTempDir('sysusers')
    t.teardown(root.remove)
    await mkdir(join(root.path, 'etc'))
    await run('sh', [
      '-c',
      `systemd-sysusers --root="$1" - < "$2"`,
      'sh',
      root.path,
      join(DIR, 'registry-mirror.sysusers'),
    ])
    const passwd = await readFile(join(root.path, 'etc/passwd'), 'utf8')
    const user = passwd.split('\n').find((line) => line.startsWith(`${one('User')!}:`))
    t.match(user?.split(':').slice(5), [`/var/lib/${one('StateDirectory')!}`, '/usr/sbin/nologin'])
  })
}
