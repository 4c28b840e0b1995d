import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { OperatorError } from '../../src/errors.js'
import { baseFromBundle, baseFromList } from '../../src/transfer/bundle-base.js'
import { dirEntries, tarEntries } from '../../src/transfer/bundle-entries.js'
import { digestListText, type BundleDescription } from '../../src/transfer/bundle-format.js'
import { writeBundle } from '../../src/transfer/bundle-writer.js'
import { planExport } from '../../src/transfer/export-plan.js'
import { importBundle } from '../../src/transfer/import.js'
import { TarWriter } from '../../src/transfer/tar-writer.js'
import { cache, hub, layout } from '../helpers/bundles.js'
import { makeTempDir } from '../helpers/temp-dir.js'

type Cache = Awaited<ReturnType<typeof cache>>

/** A bundle of ours, in memory, of the named images of a cache; `held` sets are left out. */
async function exported(from: Cache, images: string[], held: Array<Set<string>> = []) {
  const plan = await planExport(
    { store: from.store, index: from.index, upstreams: [hub] },
    { images, all: false, pinned: false },
  )
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const tar = new TarWriter(out, { end: true })
  const omitted = new Set([...plan.blobs.keys()].filter((d) => held.some((h) => h.has(d))))
  const base =
    held.length === 0
      ? []
      : [{ id: 'sha256:' + 'b'.repeat(64), source: 'week-1.tar', created: '2024-05-01T00:00:00.000Z' }]
  const description = await writeBundle(tar, from.store, plan, { base, omitted, now: new Date(0), onBytes: () => {} })
  await tar.finish()
  return { bytes: Buffer.concat(chunks), description }
}

async function filled(t: Test): Promise<Cache> {
  const source = await cache(t)
  await importBundle(source.deps, dirEntries((await layout(t)).dir))
  return source
}

const entries = (bytes: Buffer) => tarEntries(Readable.from([bytes]))

t.test('export then import: the same images, names and digests, and the exporter’s facts', async (t) => {
  const source = await filled(t)
  const { bytes, description } = await exported(source, ['multi:1', 'docker.io/library/one:2'])
  t.same(
    description.images.map((i) => i.name),
    ['docker.io/library/multi:1', 'docker.io/library/one:2'],
  )
  t.equal(description.contents.length, 7)
  t.match(description.images[0], { tagCheckedAt: 0, verdictCheckedAt: 0 }, 'the exporting mirror’s facts travel')
  const target = await cache(t)
  const report = await importBundle(target.deps, entries(bytes))
  t.same(
    report.images.map((i) => [i.name, i.held, i.listed]),
    [
      ['docker.io/library/multi:1', 2, 2],
      ['docker.io/library/one:2', 1, 1],
    ],
  )
  t.equal(report.added.blobs, 7, 'seven blobs; the bundle description is not kept')
})

t.test('our bundle is checked whole: index.json cannot change unnoticed', async (t) => {
  const source = await filled(t)
  const { bytes } = await exported(source, ['multi:1'])
  const at = bytes.indexOf('docker.io/library/multi:1')
  const renamed = Buffer.from(bytes)
  renamed[at + 'docker.io/library/mult'.length] = 'j'.charCodeAt(0)
  const target = await cache(t)
  const error = await importBundle(target.deps, entries(renamed)).catch((e: unknown) => e)
  t.ok(error instanceof OperatorError)
  t.match((error as Error).message, /index\.json is not the one the bundle was written with/)
  t.same(await target.snapshot(), [], 'nothing written')
})

t.test('incremental: its base is named by its digest list, whether read from the bundle or the list', async (t) => {
  const source = await filled(t)
  const dir = await makeTempDir('bases')
  t.teardown(dir.remove)
  const base = await exported(source, ['one:2'])
  await writeFile(join(dir.path, 'week-1.tar'), base.bytes)
  await writeFile(join(dir.path, 'week-1.digests'), digestListText(base.description.contents))
  const fromBundle = await baseFromBundle(join(dir.path, 'week-1.tar'))
  const fromList = await baseFromList(join(dir.path, 'week-1.digests'))
  t.equal(fromBundle.base.id, fromList.base.id, 'one identity')
  t.same([...fromBundle.digests].sort(), base.description.contents)
  t.equal(fromBundle.base.created, new Date(0).toISOString())

  const next = await exported(source, ['multi:1'], [fromBundle.digests])
  const left: BundleDescription = next.description
  t.equal(left.omitted.length, 3, 'the amd64 manifest, config and layer are in the base')
  t.ok(
    left.omitted.every((d) => !next.bytes.includes(d.slice(7) + '\0')),
    'and not in the bundle',
  )

  const site = await cache(t)
  const before = await site.snapshot()
  const refused = await importBundle(site.deps, entries(next.bytes)).catch((e: unknown) => e)
  t.match(
    (refused as Error).message,
    /left out as its base holds it, is not in this cache: import week-1\.tar \(bundle sha256:b+, exported 2024-05-01T00:00:00\.000Z\) first/,
  )
  t.same(await site.snapshot(), before, 'refused without its base, nothing changed')
  await importBundle(site.deps, entries(base.bytes))
  const report = await importBundle(site.deps, entries(next.bytes))
  t.same(
    report.images.map((i) => [i.name, i.held, i.listed]),
    [['docker.io/library/multi:1', 2, 2]],
    'and imports on top of it',
  )
})

t.test('a base list that is not one is refused, naming the line', async (t) => {
  const dir = await makeTempDir('bases')
  t.teardown(dir.remove)
  await writeFile(join(dir.path, 'bad.digests'), `sha256:${'a'.repeat(64)}\nnot-a-digest\n`)
  await t.rejects(baseFromList(join(dir.path, 'bad.digests')), /bad\.digests, line 2: "not-a-digest" is not a digest/)
  await t.rejects(baseFromList(join(dir.path, 'none')), /cannot read the base list .*none: no such file/)
  await t.rejects(baseFromBundle(join(dir.path, 'none.tar')), /cannot read the base bundle .*none\.tar: no such file/)
})
