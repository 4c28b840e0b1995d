import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { filesUnder } from '../helpers/cache-assertions.js'
import { runCli, settingsOf } from '../helpers/cli.js'
import { sha256 } from '../helpers/http.js'
import { testConfig } from '../helpers/mirror.js'
import { startStack } from '../helpers/setup.js'
import { skopeo, skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { tarEntryData } from '../helpers/tar-offsets.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const { upstream, mirror } = await startStack(t)
const registry = new URL(upstream.registry.url).host
const { multi, small } = upstream.fixture.images
const work = await makeTempDir('bundle')
t.teardown(work.remove)
await skopeoCopy(`${mirror.host}/${multi!.repo}:1`, join(work.path, 'pulled'), ['--all'])
await skopeoCopy(`${mirror.host}/${small!.repo}:1`, join(work.path, 'pulled'))
await mirror.app.mirror.blobs.settled()
const ours = join(work.path, 'site.tar')
const exported = await runCli([
  'export',
  '--out',
  ours,
  'library/multi:1',
  `${registry}/library/small:1`,
  ...settingsOf(mirror.config),
])

/** A cache dir of its own, for the disconnected side; no server runs on it. */
async function site(): Promise<{ path: string; settings: string[] }> {
  const dir = await makeTempDir('site')
  t.teardown(dir.remove)
  return {
    path: dir.path,
    settings: settingsOf(
      testConfig(
        mirror.config.upstream.url,
        dir.path,
        mirror.config.redisUrl === undefined
          ? {}
          : { redisUrl: mirror.config.redisUrl, redisPrefix: `site-${dir.path.slice(-6)}:` },
      ),
    ),
  }
}

t.test('our bundle is a standard OCI archive: skopeo reads it, from a file or from stdout', async (t) => {
  t.equal(exported.code, 0, exported.stderr)
  t.match(exported.stdout.toString(), /library\/multi:1\s+sha256:\w{12}\s+linux\/amd64, linux\/arm64\s/)
  t.same(
    (await readdir(work.path)).filter((f) => f.includes('partial')),
    [],
    'no partial file left',
  )

  const copied = join(work.path, 'copied')
  await skopeo(['copy', '--all', `oci-archive:${ours}:${registry}/library/multi:1`, `dir:${copied}`])
  const digests = await verifyDirLayout(copied)
  t.ok(
    multi!.blobs.every((b) => digests.includes(b.digest)),
    'every platform arrives, byte-exact',
  )
  t.equal(sha256(await readFile(join(copied, 'manifest.json'))), multi!.digest, 'the index, unchanged')

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

  const none = join(work.path, 'none.tar')
  const missing = await runCli([
    'export',
    '--out',
    none,
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

t.test('a bundle written by skopeo (oci-archive) imports, named as skopeo was told', async (t) => {
  const archive = join(work.path, 'skopeo.tar')
  await skopeo([
    'copy',
    '--all',
    '--src-tls-verify=false',
    `docker://${mirror.host}/${multi!.repo}:1`,
    `oci-archive:${archive}:${registry}/library/multi:1`,
  ])
  const target = await site()
  const imported = await runCli(['import', archive, ...target.settings])
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stdout.toString(), new RegExp(`${registry}/library/multi:1\\s+sha256:\\w{12}\\s+2 of 2\\s+restored`))
  t.match(imported.stdout.toString(), /added 7 blobs/)
  const listed = await runCli(['ls', '--json', ...target.settings])
  t.match(JSON.parse(listed.stdout.toString()), {
    images: [{ name: `${registry}/library/multi:1`, digest: multi!.digest }],
  })
})

t.test('a bundle with one flipped byte, or cut short, is refused and changes nothing', async (t) => {
  const target = await site()
  const bytes = await readFile(ours)
  const layer = tarEntryData(bytes).reduce((a, b) => (b.size > a.size ? b : a))
  const flipped = Buffer.from(bytes)
  flipped[layer.offset + Math.floor(layer.size / 2)]! ^= 0x20
  const index = tarEntryData(bytes).find((e) => e.name === 'index.json')!
  const renamed = Buffer.from(bytes)
  // `library/multi` becomes `library/multj`: still a name, but not the one exported.
  const at = bytes.indexOf('library/multi:1', index.offset)
  renamed[at + 'library/mult'.length] = 'j'.charCodeAt(0)
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a flipped byte in a layer', flipped, /does not match its digest: the bundle is damaged or was altered/],
    ['a flipped byte in index.json', renamed, /index\.json is not the one the bundle was written with/],
    ['cut short', bytes.subarray(0, layer.offset + 1000), /breaks off|not a whole tar/],
  ]
  const before = await filesUnder(target.path)
  for (const [what, data, message] of cases) {
    const file = join(work.path, `spoiled-${what.replaceAll(' ', '-')}.tar`)
    await writeFile(file, data)
    const result = await runCli(['import', file, ...target.settings])
    t.equal(result.code, 1, what)
    t.match(result.stderr, message, what)
    t.equal(result.stderr.split('\n').filter((l) => l.startsWith('registry-mirror:')).length, 1, 'one line says why')
  }
  t.same(await filesUnder(target.path), before, 'blobs/, tmp/ and index/ are as they were')
})
