import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { MemoryCachedBlobStore } from '../../src/cache/memory-cached-blob-store.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { blobStoreContract, digestOf, readRange, write } from './blob-store-contract.js'

const MiB = 1024 * 1024

async function stores(budget: number) {
  const dir = await makeTempDir('memory-blob-store')
  t.teardown(dir.remove)
  const disk = new FsBlobStore(dir.path)
  const store = new MemoryCachedBlobStore(disk, budget)
  await store.init()
  return { dir: dir.path, disk, store }
}

const roots = new WeakMap<object, string>()
blobStoreContract(t, {
  open: async () => {
    const { dir, store } = await stores(MiB)
    roots.set(store, dir)
    return store
  },
  tempFiles: async (store) => readdir(join(roots.get(store)!, 'tmp')),
})

t.test('a small blob, once read, is sent from memory', async (t) => {
  const { disk, store } = await stores(8 * MiB)
  const data = Buffer.alloc(MiB, 7)
  await write(store, data)
  const first = await store.open(digestOf(data))
  t.ok(first?.contents, 'held after the first read')
  t.same(first!.contents, data)
  await first!.close()
  // The file changes under it (as if by hand): the copy in memory is what is served.
  await writeFile(disk.pathOf(digestOf(data)), 'changed')
  const second = await store.open(digestOf(data))
  t.same(await readRange(second!), data, 'served from memory, positional reads too')
  t.same(await readRange(second!, 10, 19), data.subarray(10, 20))
})

t.test('blobs above an eighth of the budget are left on disk', async (t) => {
  const { store } = await stores(8 * MiB)
  const data = Buffer.alloc(MiB + 1, 1)
  await write(store, data)
  const blob = await store.open(digestOf(data))
  t.equal(blob?.contents, undefined)
  t.same(await readRange(blob!), data)
  await blob!.close()
})

t.test('the budget holds: the least recently read blob leaves first', async (t) => {
  const { disk, store } = await stores(2 * MiB)
  // An eighth of 2 MiB each: eight fit, the ninth pushes the first out.
  const blobs = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => Buffer.alloc(256 * 1024 - n, n))
  for (const data of blobs) {
    await write(store, data)
    await (await store.open(digestOf(data)))!.close()
  }
  // Mark the files, so a read from disk shows.
  for (const data of blobs) await writeFile(disk.pathOf(digestOf(data)), 'from disk')
  const first = await store.open(digestOf(blobs[0]!))
  t.equal(first?.contents?.toString(), 'from disk', 'the oldest went back to disk')
  const last = await store.open(digestOf(blobs[8]!))
  t.same(last?.contents, blobs[8], 'the newest is still in memory')
})

t.test('a blob that fails verification on disk leaves memory too', async (t) => {
  const { disk, store } = await stores(8 * MiB)
  const data = Buffer.from('verified once')
  await write(store, data)
  await (await store.open(digestOf(data)))!.close()
  await writeFile(disk.pathOf(digestOf(data)), 'rotted')
  t.equal(await store.verify(digestOf(data)), false)
  const reopened = await store.open(digestOf(data))
  t.equal(reopened?.contents?.toString(), 'rotted', 'no longer served from memory')
  await reopened?.close()
})

t.test('a read that overlaps a delete does not bring the blob back', async (t) => {
  const dir = await makeTempDir('memory-blob-store')
  t.teardown(dir.remove)
  // The file is opened first; the delete lands while its bytes are being read.
  let opened!: () => void
  const gate = new Promise<void>((resolve) => (opened = resolve))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  class SlowStore extends FsBlobStore {
    override async open(digest: string) {
      const blob = await super.open(digest)
      opened()
      await released
      return blob
    }
  }
  const store = new MemoryCachedBlobStore(new SlowStore(dir.path), 8 * MiB)
  await store.init()
  const data = Buffer.from('evicted while being read')
  await write(store, data)
  const reading = store.open(digestOf(data))
  await gate
  await store.delete(digestOf(data))
  release()
  const blob = await reading
  t.same(await readRange(blob!), data, 'the reader that opened it still gets it')
  await blob!.close()
  t.equal(await store.open(digestOf(data)), undefined, 'but it is gone for the next')
})
