// scripts/test-all.sh frees port 5000 from the docker-registry service its package enables,
// only when it installed the package and only under systemd. No test host runs systemd, so
// the script's step runs against a stub systemctl with the systemd check pointed at a
// directory the test controls.
import { execFile } from 'node:child_process'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { makeTempDir } from '../helpers/temp-dir.js'

const run = promisify(execFile)
const SCRIPT = new URL('../../scripts/test-all.sh', import.meta.url).pathname
const SYSTEMD_CHECK = '/run/systemd/system'

const script = await readFile(SCRIPT, 'utf8')
const start = script.indexOf('# On a systemd host')
const step = script.slice(start, script.indexOf('\nfi\n', start) + 4)

const dir = await makeTempDir('test-command')
t.teardown(dir.remove)
await mkdir(join(dir.path, 'bin'))
await writeFile(join(dir.path, 'bin/systemctl'), '#!/bin/sh\necho "systemctl $*"\n')
await chmod(join(dir.path, 'bin/systemctl'), 0o755)

/** What the step runs, given the packages this run installed and whether systemd runs. */
async function stepRuns(installed: string[], systemd: boolean): Promise<string> {
  const systemdDir = join(dir.path, systemd ? 'systemd' : 'no-systemd')
  await mkdir(join(dir.path, 'systemd'), { recursive: true })
  const body = [
    'set -euo pipefail',
    'sudo=""',
    `missing=(${installed.join(' ')})`,
    step.replaceAll(SYSTEMD_CHECK, systemdDir),
  ].join('\n')
  const { stdout } = await run('bash', ['-c', body], {
    env: { PATH: `${join(dir.path, 'bin')}:${process.env.PATH ?? ''}` },
  })
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('systemctl'))
    .join('\n')
}

t.test('the step is in the script and checks for systemd as sd_booted() does', async (t) => {
  t.ok(start > 0)
  t.match(step, `[ -d ${SYSTEMD_CHECK} ]`)
})

t.test('installed now under systemd: the service is disabled and stopped', async (t) => {
  t.equal(await stepRuns(['docker-registry', 'skopeo'], true), 'systemctl disable --now docker-registry.service')
})

t.test('left alone when installed before, or without systemd', async (t) => {
  t.equal(await stepRuns(['skopeo'], true), '', 'installed before this run')
  t.equal(await stepRuns([], true), '', 'nothing installed')
  t.equal(await stepRuns(['docker-registry'], false), '', 'no systemd')
})
