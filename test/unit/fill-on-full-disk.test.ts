// The fill's state machine when the disk refuses its writes (ENOSPC from the first byte):
// the download goes on from memory, paced to its readers, and every reader still gets
// every verified byte. The full disk is a file handle that refuses writes; the rest is
// the real Fill, FillReader and FsBlobWriter.
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { BlobStore } from '../../src/cache/blob-store.js'
import { FsBlobWriter } from '../../src/cache/fs-blob-writer.js'
import { BufferPool } from '../../src/buffers/buffer-pool.js'
import { Fill } from '../../src/mirror/fill/fill.js'
import { FillReader } from '../../src/mirror/fill/fill-reader.js'
import { bodyOf, fillFrom } from '../helpers/fill.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const MiB = 1024 * 1024
const pool = new BufferPool(256 * 1024, 4)

async function fullDiskFill(t: Test, size: number) {
  const dir = await makeTempDir('full-disk')
  t.teardown(dir.remove)
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) & 0xff
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const tempPath = join(dir.path, 'blob.tmp')
  const real = await open(tempPath, 'w')
  const full = Object.assign(Object.create(real) as typeof real, {
    writev: () => Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })),
  })
  const store = {
    createWriter: async (expected) =>
      new FsBlobWriter(
        full,
        { tempPath, finalPath: `${tempPath}.final`, metaPath: `${tempPath}.json` },
        expected,
        createHash('sha256'),
      ),
  } as Pick<BlobStore, 'createWriter'> as BlobStore
  const deps = fillFrom(store, size, bodyOf(data))
  const fill = new Fill(digest)
  void fill.run(deps)
  await fill.started
  return { fill, data }
}

async function readAll(source: FillReader, from: number, to: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let at = from
  while (at <= to) {
    const bytes = await source.read(at, to - at + 1)
    if (bytes.data.length === 0) break
    parts.push(Buffer.from(bytes.data))
    bytes.release()
    at += bytes.data.length
  }
  await source.complete()
  return Buffer.concat(parts)
}

t.test('a Range reader waiting for the verdict on its last byte does not stall the download', async (t) => {
  const { fill, data } = await fullDiskFill(t, 20 * MiB)
  const range = new FillReader(fill, 99, pool)
  const got = await Promise.race([
    readAll(range, 0, 99),
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('stalled')), 5000)),
  ])
  t.same(got, data.subarray(0, 100))
  await range.close()
  await fill.done
  t.equal(fill.failure, 'disk_full', 'served, not cached')
})

t.test('readers still behind when the download ends get every verified byte', async (t) => {
  const size = 4 * MiB
  const { fill, data } = await fullDiskFill(t, size)
  const reader = new FillReader(fill, size - 1, pool)
  const head = await reader.read(0, MiB)
  const first = Buffer.from(head.data)
  head.release()
  await fill.done
  t.equal(fill.state, 'verified')
  t.equal(fill.size, size, 'the size is what was received and verified, not what reached the disk')
  const rest = await readAll(reader, first.length, size - 1)
  t.same(Buffer.concat([first, rest]), data)
  await reader.close()
})

t.test('readers waiting at the head do not wake each other forever while one lags', async (t) => {
  const size = 20 * MiB
  const { fill } = await fullDiskFill(t, size)
  // One reader takes a little and then reads no more: the download waits for it…
  const lagging = new FillReader(fill, size - 1, pool)
  ;(await lagging.read(0, 64 * 1024)).release()
  // …while two others read all there is and wait at the head for more.
  const sources = [new FillReader(fill, size - 1, pool), new FillReader(fill, size - 1, pool)]
  const reading = sources.map(async (source) => {
    for (let at = 0; at < size;) {
      const bytes = await source.read(at, 512 * 1024)
      at += bytes.data.length
      bytes.release()
    }
  })
  const fired = await new Promise<boolean>((resolve) => {
    setTimeout(() => resolve(true), 100)
    setTimeout(() => resolve(false), 3000).unref()
  })
  t.ok(fired, 'timers still run: the event loop is not spinning')
  fill.abort(new Error('test over'))
  await Promise.allSettled(reading)
  await Promise.all([lagging, ...sources].map((source) => source.close()))
  await fill.done
})
