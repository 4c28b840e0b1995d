// The packed record table against a Map doing the same: finds, inserts and removals in
// any order (removal shifts probes back, so what follows a removed slot must stay found).
import { createHash } from 'node:crypto'
import t from 'tap'
import { BlobTable } from '../../src/cache/blob-table.js'

const digest = (n: number) => `sha256:${createHash('sha256').update(String(n)).digest('hex')}`

t.test('finds what was inserted and not removed, through growth and removals', async (t) => {
  const table = new BlobTable()
  const model = new Map<string, number>()
  let seed = 1
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  let mismatches = 0
  for (let step = 0; step < 30_000; step++) {
    const d = digest(Math.floor(random() * 8000))
    const id = table.find(d)
    if (id !== (model.get(d) ?? -1)) mismatches++
    if (id < 0) {
      const added = table.insert(d)
      table.sizes[added] = step
      model.set(d, added)
    } else if (random() < 0.6) {
      table.remove(id)
      model.delete(d)
    }
  }
  t.equal(mismatches, 0, 'every lookup agreed with the model')
  t.equal(table.count, model.size)
  const wrong = [...model].filter(([d, id]) => table.find(d) !== id || table.digestOf(id) !== d)
  t.same(wrong, [], 'every record is found at its id, with its digest')
})

t.test('digests of other algorithms and odd strings are kept beside', async (t) => {
  const table = new BlobTable()
  const sha512 = `sha512:${'ab'.repeat(64)}`
  const upper = `sha256:${'AB'.repeat(32)}`
  for (const d of [sha512, upper, 'not a digest']) {
    const id = table.insert(d)
    t.equal(table.find(d), id)
    t.equal(table.digestOf(id), d)
  }
  t.equal(table.find(`sha256:${'ab'.repeat(32)}`), -1, 'upper-case hex is another string, not the same digest')
  table.remove(table.find(sha512))
  t.equal(table.find(sha512), -1)
  t.equal(table.count, 2)
})

t.test('string columns and digest order', async (t) => {
  const table = new BlobTable()
  const a = table.insert(`sha256:${'0'.repeat(63)}1`)
  const b = table.insert(`sha256:${'f'.repeat(64)}`)
  const c = table.insert(`sha512:${'0'.repeat(128)}`)
  table.setUpstream(a, 'registry-1.docker.io')
  table.setMediaType(a, 'application/vnd.oci.image.manifest.v1+json')
  t.equal(table.upstreamOf(a), 'registry-1.docker.io')
  t.equal(table.mediaTypeOf(a), 'application/vnd.oci.image.manifest.v1+json')
  t.equal(table.mediaTypeOf(b), undefined)
  t.ok(table.isManifest(a) && !table.isManifest(b))
  t.ok(table.compareDigests(a, b) < 0 && table.compareDigests(b, a) > 0)
  t.equal(table.compareDigests(a, a), 0)
  t.ok(table.compareDigests(b, c) < 0, 'sha256:… sorts before sha512:…, as the strings do')
})

t.test('insertIfAbsent adds a digest once, whatever its algorithm', async (t) => {
  const table = new BlobTable()
  const cases = [digest(1), digest(2), `sha512:${'cd'.repeat(64)}`, 'not a digest']
  for (const d of cases) {
    const id = table.insertIfAbsent(d)
    t.ok(id >= 0, `${d.slice(0, 12)}: added`)
    t.equal(table.find(d), id, `${d.slice(0, 12)}: found at its id`)
    t.equal(table.insertIfAbsent(d), -1, `${d.slice(0, 12)}: not added twice`)
  }
  t.equal(table.count, cases.length)
})
