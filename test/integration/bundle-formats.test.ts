import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { runCli, settingsOf } from '../helpers/cli.js'
import { startStack } from '../helpers/setup.js'
import { skopeo, skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test('our bundle is a standard OCI archive: skopeo reads it, from a file or from stdout', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const registry = new URL(upstream.registry.url).host
  const { multi, small } = upstream.fixture.images
  const work = await makeTempDir('bundle')
  t.teardown(work.remove)
  await skopeoCopy(`${mirror.host}/${multi!.repo}:1`, join(work.path, 'pulled'), ['--all'])
  await skopeoCopy(`${mirror.host}/${small!.repo}:1`, join(work.path, 'pulled'))
  await mirror.app.mirror.blobs.settled()

  const file = join(work.path, 'site.tar')
  const exported = await runCli([
    'export',
    '--out',
    file,
    'library/multi:1',
    `${registry}/library/small:1`,
    ...settingsOf(mirror.config),
  ])
  t.equal(exported.code, 0, exported.stderr)
  t.match(exported.stdout.toString(), /library\/multi:1\s+sha256:\w{12}\s+linux\/amd64, linux\/arm64\s/)
  t.same(
    (await readdir(work.path)).filter((f) => f.includes('partial')),
    [],
    'no partial file left',
  )

  const copied = join(work.path, 'copied')
  await skopeo(['copy', '--all', `oci-archive:${file}:${registry}/library/multi:1`, `dir:${copied}`])
  const digests = await verifyDirLayout(copied)
  t.ok(
    multi!.blobs.every((b) => digests.includes(b.digest)),
    'every platform arrives, byte-exact',
  )
  const manifest = await readFile(join(copied, 'manifest.json'))
  t.equal(`sha256:${createHash('sha256').update(manifest).digest('hex')}`, multi!.digest, 'the index, unchanged')

  const piped = await runCli(['export', '--out', '-', 'library/small:1', ...settingsOf(mirror.config)])
  t.equal(piped.code, 0, piped.stderr)
  t.match(piped.stderr, /library\/small:1/, 'the summary goes to stderr')
  const fromPipe = join(work.path, 'piped.tar')
  await writeFile(fromPipe, piped.stdout)
  await skopeo(['copy', `oci-archive:${fromPipe}:${registry}/library/small:1`, `dir:${join(work.path, 'small')}`])
  const fromStdout = await verifyDirLayout(join(work.path, 'small'))
  t.ok(
    small!.blobs.every((b) => fromStdout.includes(b.digest)),
    'a bundle written to stdout reads the same',
  )

  const missing = await runCli([
    'export',
    '--out',
    join(work.path, 'none.tar'),
    'library/small:1',
    'library/big:1',
    ...settingsOf(mirror.config),
  ])
  t.equal(missing.code, 1)
  t.match(
    missing.stderr,
    /^registry-mirror: cannot export: .*library\/big:1 is not cached \(pull or prefetch it first\)\n$/,
  )
  t.same(
    (await readdir(work.path)).filter((f) => f.startsWith('none')),
    [],
    'nothing written',
  )
})
