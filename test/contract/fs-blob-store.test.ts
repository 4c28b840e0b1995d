import { createHash } from 'node:crypto'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import t from 'tap'
import type { BlobStore } from '../../src/cache/blob-store.js'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { blobStoreContract } from './blob-store-contract.js'

const roots = new WeakMap<BlobStore, string>()

blobStoreContract(t, {
  open: async () => {
    const dir = await makeTempDir('blob-store')
    t.teardown(dir.remove)
    const store = new FsBlobStore(dir.path)
    await store.init()
    roots.set(store, dir.path)
    return store
  },
  tempFiles: async (store) => readdir(join(roots.get(store)!, 'tmp')),
})

t.test('temp files a crash left behind are removed at start-up', async (t) => {
  const dir = await makeTempDir('blob-store')
  t.teardown(dir.remove)
  await mkdir(join(dir.path, 'tmp'), { recursive: true })
  await writeFile(join(dir.path, 'tmp', 'abc-123'), 'partial')
  await new FsBlobStore(dir.path).init()
  t.same(await readdir(join(dir.path, 'tmp')), [])
})

t.test('layout: blobs/<algorithm>/<two hex>/<hex>', async (t) => {
  const store = new FsBlobStore('/cache')
  t.equal(store.pathOf(`sha256:ab${'0'.repeat(62)}`), `/cache/blobs/sha256/ab/ab${'0'.repeat(62)}`)
})

t.test('stray files in the blob tree are not listed', async (t) => {
  const dir = await makeTempDir('blob-store')
  t.teardown(dir.remove)
  const store = new FsBlobStore(dir.path)
  await store.init()
  await mkdir(join(dir.path, 'blobs', 'sha256', 'zz'), { recursive: true })
  await writeFile(join(dir.path, 'blobs', 'sha256', 'zz', 'not-a-digest'), 'x')
  const listed = []
  for await (const blob of store.list()) listed.push(blob)
  t.same(listed, [])
})

t.test("a manifest's meta file that is not JSON, or holds the wrong types, counts as no meta", async (t) => {
  const dir = await makeTempDir('blob-store')
  t.teardown(dir.remove)
  const store = new FsBlobStore(dir.path)
  await store.init()
  const data = Buffer.from('{"schemaVersion":2}')
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const path = store.pathOf(digest)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, data)
  const cases: Array<[string, string, object]> = [
    ['not JSON', '{"mediaType":', {}],
    ['not an object', '["x"]', {}],
    ['wrong types', '{"mediaType":7,"upstream":"u"}', { upstream: 'u' }],
    ['valid', '{"mediaType":"m","upstream":"u"}', { mediaType: 'm', upstream: 'u' }],
  ]
  for (const [name, meta, expected] of cases) {
    await writeFile(`${path}.json`, meta)
    const { digest: _d, size: _s, mtimeMs: _m, ...rest } = (await store.stat(digest))!
    t.same(rest, expected, name)
  }
})
