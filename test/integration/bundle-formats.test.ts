import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { filesUnder } from '../helpers/cache-assertions.js'
import { importFrom } from '../../src/cli/import.js'
import { listCache } from '../../src/cli/ls.js'
import type { Config } from '../../src/config/schema.js'
import { silentLogger } from '../../src/logger.js'
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
const oursList = join(work.path, 'site.digests')
const exported = await runCli([
  'export',
  '--out',
  ours,
  '--digests-out',
  oursList,
  'library/multi:1',
  `${registry}/library/small:1`,
  ...settingsOf(mirror.config),
])

/** A cache dir of its own, for the disconnected side; no server runs on it. */
async function site(): Promise<{ config: Config; settings: string[] }> {
  const dir = await makeTempDir('site')
  t.teardown(dir.remove)
  const redis = mirror.config.redisUrl
  const config = testConfig(
    mirror.config.upstream.url,
    dir.path,
    redis === undefined ? {} : { redisUrl: redis, redisPrefix: `${dir.path}:` },
  )
  return { config, settings: settingsOf(config) }
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
  const name = `${registry}/library/multi:1`
  await skopeo([
    'copy',
    '--all',
    '--src-tls-verify=false',
    `docker://${mirror.host}/${multi!.repo}:1`,
    `oci-archive:${archive}:${name}`,
  ])
  const target = await site()
  const imported = await runCli(['import', archive, ...target.settings])
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stdout.toString(), new RegExp(`${name}\\s+sha256:\\w{12}\\s+2 of 2\\s+restored`))
  t.match(imported.stdout.toString(), /added 7 blobs/)
  const listing = await listCache(target.config, silentLogger)
  t.match(listing.images, [{ name, digest: multi!.digest, platforms: ['linux/amd64', 'linux/arm64'] }])
})

t.test('a bundle with one flipped byte, or cut short, is refused and changes nothing', async (t) => {
  const target = await site()
  await importFrom(target.config, silentLogger, join(work.path, 'piped.tar'))
  const bytes = await readFile(ours)
  const layer = tarEntryData(bytes).reduce((a, b) => (b.size > a.size ? b : a))
  const flipped = Buffer.from(bytes)
  flipped[layer.offset + Math.floor(layer.size / 2)]! ^= 0x20
  const cases: Array<[string, Buffer, RegExp]> = [
    ['flipped', flipped, /does not match its digest: the bundle is damaged or was altered/],
    ['cut-short', bytes.subarray(0, layer.offset + 1000), /breaks off|not a whole tar/],
  ]
  const before = await filesUnder(target.config.cacheDir)
  for (const [what, data, message] of cases) {
    const file = join(work.path, `${what}.tar`)
    await writeFile(file, data)
    const result = await runCli(['import', file, ...target.settings])
    t.equal(result.code, 1, what)
    t.match(result.stderr, message, what)
    t.equal(result.stderr.split('\n').filter((l) => l.startsWith('registry-mirror:')).length, 1, 'one line says why')
  }
  t.same(await filesUnder(target.config.cacheDir), before, 'blobs/, tmp/ and index/ are as they were')
})

t.test('an incremental bundle carries only what its base lacks; it imports on top of it, never without', async (t) => {
  const { docker2 } = upstream.fixture.images
  await skopeoCopy(`${mirror.host}/${docker2!.repo}:1`, join(work.path, 'pulled'))
  await mirror.app.mirror.blobs.settled()
  const next = join(work.path, 'week-2.tar')
  const exportedNext = await runCli([
    'export',
    '--all',
    '--out',
    next,
    '--base-list',
    oursList,
    ...settingsOf(mirror.config),
  ])
  t.equal(exportedNext.code, 0, exportedNext.stderr)
  t.match(exportedNext.stdout.toString(), /left out \(held by the base\)/)
  const carried = tarEntryData(await readFile(next)).map((e) => e.name)
  const inBundle = (b: { digest: string }) => carried.includes(`blobs/sha256/${b.digest.slice(7)}`)
  t.ok(![...small!.blobs, ...multi!.blobs].some(inBundle), "the base's blobs are left out")
  t.ok(docker2!.blobs.every(inBundle), 'the new ones are carried')

  const target = await site()
  const before = await filesUnder(target.config.cacheDir)
  const refused = await runCli(['import', next, ...target.settings])
  t.equal(refused.code, 1)
  t.match(
    refused.stderr,
    /left out as its base holds it, is not in this cache: import site\.digests \(bundle sha256:\w{64}\) first/,
  )
  t.same(await filesUnder(target.config.cacheDir), before, 'refused without its base: nothing changed')
  await importFrom(target.config, silentLogger, ours)
  const imported = await runCli(['import', next, ...target.settings])
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stdout.toString(), /added 3 blobs .*; 0 were already cached/s)
  t.equal((await listCache(target.config, silentLogger)).images.length, 3)
})
