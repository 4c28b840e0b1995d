// The order an eviction pass takes blobs in, over the embedded index: least recently used
// first, manifests after every other blob, pinned blobs and blobs in use spared, and it
// stops at the low mark.
import t from 'tap'
import type { BlobRecord } from '../../src/cache/cache-index.js'
import { EmbeddedIndex } from '../../src/cache/embedded-index.js'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { silentLogger } from '../../src/logger.js'
import { Evictor } from '../../src/mirror/eviction.js'
import { noTelemetry } from '../../src/mirror/telemetry.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

interface Case {
  name: string
  /** n, last access, manifest? */
  records: Array<[number, number, boolean?]>
  pinned?: number[]
  inUse?: number[]
  /** Bytes to go down to (each record is 100 bytes); the high mark is 0. */
  target: number
  evicted: number[]
}

const cases: Case[] = [
  {
    name: 'least recently used first',
    records: [
      [1, 300],
      [2, 100],
      [3, 200],
    ],
    target: 100,
    evicted: [2, 3],
  },
  {
    name: 'ties by digest',
    records: [
      [2, 100],
      [1, 100],
      [3, 100],
    ],
    target: 200,
    evicted: [1],
  },
  {
    name: 'manifests after every other blob, however old',
    records: [
      [1, 10, true],
      [2, 500],
      [3, 20, true],
      [4, 400],
    ],
    target: 100,
    evicted: [4, 2, 1],
  },
  {
    name: 'pinned and in-use blobs are spared',
    records: [
      [1, 100],
      [2, 200],
      [3, 300],
      [4, 400],
    ],
    pinned: [1],
    inUse: [2],
    target: 200,
    evicted: [3, 4],
  },
  { name: 'nothing left to evict: it stops', records: [[1, 100]], pinned: [1], target: 0, evicted: [] },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const dir = await makeTempDir('eviction')
    t.teardown(dir.remove)
    const index = await EmbeddedIndex.open(dir.path)
    t.teardown(() => index.close())
    for (const [n, lastAccess, manifest] of c.records) {
      const record: BlobRecord = { digest: digest(n), size: 100, upstream: 'u', lastAccess }
      await index.putBlob(manifest === true ? { ...record, mediaType: MANIFEST } : record)
    }
    if (c.pinned !== undefined) await index.pin('library/x:1', c.pinned.map(digest))
    const store = new FsBlobStore(dir.path)
    const deleted: string[] = []
    store.delete = async (d) => {
      deleted.push(d)
    }
    const inUse = new Set((c.inUse ?? []).map(digest))
    const total = c.records.length * 100
    const evictor = new Evictor({
      index,
      store,
      bound: { maxBytes: total, highWatermark: 0, lowWatermark: c.target / total },
      inUse: (d) => inUse.has(d),
      telemetry: noTelemetry,
      log: silentLogger,
    })
    await evictor.check()
    t.same(deleted, c.evicted.map(digest), 'files deleted in order')
    for (const n of c.evicted) t.equal(await index.getBlob(digest(n)), undefined, 'and their records')
    t.equal((await index.stats()).blobs, c.records.length - c.evicted.length)
  })
}

t.test('a pass over many blobs lets requests in between batches', async (t) => {
  const dir = await makeTempDir('eviction')
  t.teardown(dir.remove)
  const index = await EmbeddedIndex.open(dir.path)
  t.teardown(() => index.close())
  for (let n = 1; n <= 5000; n++) await index.putBlob({ digest: digest(n), size: 1, upstream: 'u', lastAccess: n })
  const store = new FsBlobStore(dir.path)
  store.delete = async () => {}
  const evictor = new Evictor({
    index,
    store,
    bound: { maxBytes: 5000, highWatermark: 0.5, lowWatermark: 0.5 },
    inUse: () => false,
    telemetry: noTelemetry,
    log: silentLogger,
  })
  let turns = 0
  const ticking = setInterval(() => turns++, 0)
  await evictor.check()
  clearInterval(ticking)
  t.equal((await index.stats()).blobs, 2500)
  t.ok(turns > 5, `timers ran ${turns} times during the pass`)
  t.same((await index.getBlob(digest(2501)))?.lastAccess, 2501, 'the most recently used half stayed')
})
