// A fill fed pooled segments, as the pooled transport reads them: every reference the
// window, the readers and the disk writer take is given back, so the segments return to
// their pool instead of being left to GC, and no byte is overwritten while still in use.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import t from 'tap'
import { releaseBytes, retainBytes, SegmentPool } from '../../src/buffers/segment-pool.js'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { BufferPool } from '../../src/buffers/buffer-pool.js'
import { Fill } from '../../src/mirror/fill/fill.js'
import { FillReader } from '../../src/mirror/fill/fill-reader.js'
import { fillFrom } from '../helpers/fill.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const MiB = 1024 * 1024
const SEGMENT = 256 * 1024
const READ = 40 * 1024

/** Copies `data` into segments a read at a time; each chunk is a view carrying one reference. */
function pooledBody(data: Buffer, segments: SegmentPool, seen: Set<Buffer>): Readable {
  return Readable.from(
    (function* () {
      let segment: Buffer | undefined
      let filled = 0
      for (let at = 0; at < data.length; at += READ) {
        if (segment === undefined || segment.length - filled < READ) {
          if (segment !== undefined) releaseBytes(segment)
          segment = segments.acquire()
          seen.add(segment)
          filled = 0
        }
        const n = data.copy(segment, filled, at, at + READ)
        const chunk = segment.subarray(filled, filled + n)
        filled += n
        retainBytes(chunk)
        yield chunk
      }
      if (segment !== undefined) releaseBytes(segment)
    })(),
    { objectMode: false },
  )
}

t.test('every segment comes back once the fill and its readers are done', async (t) => {
  const dir = await makeTempDir('fill-segments')
  t.teardown(dir.remove)
  const size = 12 * MiB + 123
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i++) data[i] = (i * 13 + 5) & 0xff
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const segments = new SegmentPool(SEGMENT, 1000)
  const store = new FsBlobStore(dir.path)
  await store.init()
  const fill = new Fill(digest)
  const seen = new Set<Buffer>()
  const running = fill.run(fillFrom(store, size, pooledBody(data, segments, seen)))
  await fill.started
  // One reader keeps pace; one holds each lent chunk a while before letting it go.
  const read = async (hold: number) => {
    const source = new FillReader(fill, size - 1, new BufferPool(64 * 1024, 4))
    const parts: Buffer[] = []
    let at = 0
    while (at < size) {
      const bytes = await source.read(at, size - at)
      if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold))
      parts.push(Buffer.from(bytes.data))
      bytes.release()
      at += bytes.data.length
    }
    await source.complete()
    await source.close()
    return Buffer.concat(parts)
  }
  const [fast, slow] = await Promise.all([read(0), read(1)])
  await running
  t.equal(fill.state, 'committed')
  t.ok(fast.equals(data), 'the reader in step got every byte right')
  t.ok(slow.equals(data), 'the reader that held its chunks got every byte right')
  const stored = await readFile(fill.finalPath)
  t.ok(stored.equals(data), 'the cached file is byte-exact')
  t.equal(segments.idle, seen.size, `all ${seen.size} segments made are back in the pool`)
  t.ok(seen.size < size / SEGMENT, 'and they were reused along the way')
})
