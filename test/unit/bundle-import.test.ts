import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { OperatorError } from '../../src/errors.js'
import { acceptKey } from '../../src/oci/media-types.js'
import { dirEntries, tarEntries } from '../../src/transfer/bundle-entries.js'
import { importBundle, type ImportReport } from '../../src/transfer/import.js'
import { ACCEPT_ALL, cache, hub, layout, tarOfDir, type Layout } from '../helpers/bundles.js'
import { OCI_INDEX, type Descriptor } from '../helpers/oci-layout.js'

async function refused(t: Test, run: Promise<ImportReport>, message: RegExp): Promise<void> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(error instanceof OperatorError, 'refused with an operator error (one line, no stack)')
  t.match((error as Error | undefined)?.message, message)
}

t.test('a layout imports: blobs, records, tag mappings for every client, public verdicts', async (t) => {
  const l = await layout(t)
  const c = await cache(t)
  const report = await importBundle(c.deps, dirEntries(l.dir))
  t.same(
    report.images.map((i) => [i.name, i.held, i.listed]),
    [
      ['docker.io/library/multi:1', 2, 2],
      ['docker.io/library/one:2', 1, 1],
    ],
    'named from ref.name, or from containerd’s name where ref.name is a bare tag',
  )
  t.equal(report.added.blobs, 7, 'index, two manifests, two configs, two layers')
  t.equal(report.present.blobs, 0)
  const tag = await c.index.getTag({
    upstream: hub.name,
    repo: 'library/multi',
    tag: '1',
    accept: acceptKey(ACCEPT_ALL),
  })
  t.match(tag, { digest: l.list.digest, mediaType: OCI_INDEX, size: l.list.size, checkedAt: 0 })
  t.equal(report.images[0]?.tagMappings, 64, 'every accept set that holds the OCI index type')
  t.same(await c.index.getVerdict(hub.name, 'library/multi'), { isPublic: true, checkedAt: 0 })
  t.match(await c.store.stat(l.list.digest), { mediaType: OCI_INDEX }, 'a manifest keeps its type on disk')
  t.match(await c.index.getBlob(l.arm64.digest), { size: l.arm64.size, upstream: hub.name })

  const again = await importBundle(c.deps, dirEntries(l.dir))
  t.same([again.added.blobs, again.present.blobs], [0, 7], 'a second import finds everything there')
})

t.test('an index whose other platforms were not carried imports what it holds', async (t) => {
  const l = await layout(t)
  const hex = (d: Descriptor) => d.digest.slice('sha256:'.length)
  const arm64 = JSON.parse(await readFile(join(l.dir, 'blobs/sha256', hex(l.arm64)), 'utf8')) as {
    layers: Descriptor[]
    config: Descriptor
  }
  for (const d of [l.arm64, arm64.config, ...arm64.layers]) await rm(join(l.dir, 'blobs/sha256', hex(d)))
  const c = await cache(t)
  const report = await importBundle(c.deps, dirEntries(l.dir))
  t.same(
    report.images.map((i) => [i.held, i.listed]),
    [
      [1, 2],
      [1, 1],
    ],
  )
})

t.test('refused, naming the problem, and the cache is exactly as it was', async (t) => {
  const cases: Array<[string, (l: Layout) => Promise<void>, RegExp]> = [
    [
      'one flipped byte in a layer',
      async (l) => {
        const m = JSON.parse(await readFile(join(l.dir, 'blobs/sha256', l.arm64.digest.slice(7)), 'utf8')) as {
          layers: Descriptor[]
        }
        const path = join(l.dir, 'blobs/sha256', m.layers[0]!.digest.slice(7))
        const bytes = await readFile(path)
        bytes[100] = bytes[100]! ^ 1
        await writeFile(path, bytes)
      },
      /does not match its digest: the bundle is damaged or was altered/,
    ],
    [
      'a layer missing',
      async (l) => {
        const m = JSON.parse(await readFile(join(l.dir, 'blobs/sha256', l.amd64.digest.slice(7)), 'utf8')) as {
          layers: Descriptor[]
        }
        await rm(join(l.dir, 'blobs/sha256', m.layers[0]!.digest.slice(7)))
      },
      /manifest sha256:\w+ references sha256:\w+, which is neither in the bundle nor in this cache/,
    ],
    [
      'index.json naming a manifest the bundle does not hold',
      async (l) => {
        const refs: Layout['refs'] = [
          ...l.refs,
          {
            ...l.refs[0]!,
            digest: `sha256:${'e'.repeat(64)}`,
            annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/ghost:1' },
          },
        ]
        await writeFile(join(l.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: refs }))
      },
      /index\.json names docker\.io\/library\/ghost:1, which the bundle does not hold/,
    ],
    [
      'a registry this mirror does not serve',
      async (l) => {
        const refs = [{ ...l.refs[0]!, annotations: { 'org.opencontainers.image.ref.name': 'quay.io/x/y:1' } }]
        await writeFile(join(l.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: refs }))
      },
      /names quay\.io\/x\/y:1: registry quay\.io is not served by this mirror \(it serves docker\.io\)/,
    ],
    [
      'a descriptor size that is not the blob’s',
      async (l) => {
        const refs = [{ ...l.refs[0]!, size: l.list.size + 1 }]
        await writeFile(join(l.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: refs }))
      },
      /gives sha256:\w+ a size of \d+ bytes, but it has \d+/,
    ],
    ['no oci-layout', (l) => rm(join(l.dir, 'oci-layout')), /not an OCI image layout: no valid oci-layout file/],
  ]
  for (const [what, spoil, message] of cases) {
    await t.test(what, async (t) => {
      const l = await layout(t)
      const c = await cache(t)
      // Something else is cached already: it must stay as it is.
      await importBundle(c.deps, dirEntries((await layout(t, 'other')).dir))
      const before = await c.snapshot()
      await spoil(l)
      await refused(t, importBundle(c.deps, dirEntries(l.dir)), message)
      t.same(await c.snapshot(), before, 'blobs/, tmp/ and index/ unchanged')
    })
  }
})

t.test('a tar cut short is refused, wherever the cut', async (t) => {
  const l = await layout(t)
  const whole = await tarOfDir(l.dir)
  const c = await cache(t)
  const before = await c.snapshot()
  for (const at of [10, 1024, Math.floor(whole.length / 2), whole.length - 1100]) {
    await refused(
      t,
      importBundle(c.deps, tarEntries(Readable.from([whole.subarray(0, at)]))),
      /bundle refused|not a whole tar|breaks off in/,
    )
  }
  t.same(await c.snapshot(), before, 'nothing changed')
  const report = await importBundle(c.deps, tarEntries(Readable.from([whole])))
  t.equal(report.images.length, 2, 'the whole tar imports')
})
