// A fill keeps pace with its fastest reader while the disk takes its bytes, and a reader
// that stops reading stops holding it back.
import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { BufferPool } from '../../src/buffers/buffer-pool.js'
import { Fill } from '../../src/mirror/fill/fill.js'
import type { Pacing } from '../../src/mirror/fill/pacing.js'
import { FillReader } from '../../src/mirror/fill/fill-reader.js'
import { bodyOf, fillFrom } from '../helpers/fill.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const MiB = 1024 * 1024
const CHUNK = 64 * 1024
const pool = new BufferPool(256 * 1024, 4)

async function startFill(t: Test, size: number, pacing: Pacing) {
  const dir = await makeTempDir('fill-pacing')
  t.teardown(dir.remove)
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff
  const store = new FsBlobStore(dir.path)
  await store.init()
  const fill = new Fill(`sha256:${createHash('sha256').update(data).digest('hex')}`, pacing)
  const done = fill.run(fillFrom(store, size, bodyOf(data, CHUNK)))
  await fill.started
  return { fill, data, done }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('the download stays within its lead of a reader that keeps reading', async (t) => {
  const lead = MiB
  const { fill, data, done } = await startFill(t, 24 * MiB, { leadBytes: lead, stallMs: 5000 })
  const source = new FillReader(fill, data.length - 1, pool)
  const parts: Buffer[] = []
  let at = 0
  let furthestAhead = 0
  while (at < data.length) {
    const bytes = await source.read(at, 256 * 1024)
    parts.push(Buffer.from(bytes.data))
    bytes.release()
    at += bytes.data.length
    // Before its first read a reader does not count: the download may have a head start.
    if (at > 8 * MiB) furthestAhead = Math.max(furthestAhead, fill.received - at)
    await pause(1)
  }
  await source.complete()
  await source.close()
  await done
  t.ok(Buffer.concat(parts).equals(data), 'every byte right')
  t.ok(furthestAhead <= lead + 2 * CHUNK + 256 * 1024, `at most ${furthestAhead} bytes ahead`)
  t.equal(fill.state, 'committed')
})

t.test('a reader that stops reading no longer holds the download back', async (t) => {
  const { fill, data, done } = await startFill(t, 16 * MiB, { leadBytes: MiB, stallMs: 100 })
  const source = new FillReader(fill, data.length - 1, pool)
  const first = await source.read(0, CHUNK)
  first.release()
  // It never reads again (and never leaves): the download finishes all the same.
  let timer: NodeJS.Timeout | undefined
  const stuck = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('stuck'), 5000)))
  t.equal(await Promise.race([done.then(() => 'done'), stuck]), 'done', 'the download did not wait for it')
  clearTimeout(timer)
  t.equal(fill.state, 'committed')
  await source.close()
})

t.test('a reader waiting further on (a parallel Range) lets the download run ahead of a slow one', async (t) => {
  const { fill, data, done } = await startFill(t, 16 * MiB, { leadBytes: MiB, stallMs: 60_000 })
  // A slow reader from the start, reading a little every few milliseconds…
  const slow = new FillReader(fill, data.length - 1, pool)
  let slowAt = 0
  const halt = new AbortController()
  const slowReading = (async () => {
    while (!halt.signal.aborted && slowAt < data.length) {
      const bytes = await slow.read(slowAt, 16 * 1024)
      slowAt += bytes.data.length
      bytes.release()
      await pause(5)
    }
  })()
  // …and a Range request for bytes it will not reach for a long while.
  const start = 12 * MiB
  const range = new FillReader(fill, start + MiB - 1, pool)
  const parts: Buffer[] = []
  for (let got = 0; got < MiB;) {
    const bytes = await range.read(start + got, MiB - got)
    parts.push(Buffer.from(bytes.data))
    got += bytes.data.length
    bytes.release()
  }
  t.ok(Buffer.concat(parts).equals(data.subarray(start, start + MiB)), 'the range is right')
  await range.complete()
  await range.close()
  t.ok(slowAt < 4 * MiB, `the range was served while the slow reader was at ${slowAt}`)
  halt.abort()
  await slowReading
  await slow.close()
  await done
})
