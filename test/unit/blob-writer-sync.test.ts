// The disk writer flushes as it goes, so the fsync before the rename has only the tail.
import { createHash } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { FsBlobWriter } from '../../src/cache/fs-blob-writer.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const MiB = 1024 * 1024

t.test('a large blob is flushed in steps while it is written, then synced once more', async (t) => {
  const dir = await makeTempDir('writer-sync')
  t.teardown(dir.remove)
  const data = Buffer.alloc(40 * MiB)
  for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const tempPath = join(dir.path, 'blob.tmp')
  const real = await open(tempPath, 'w')
  const calls: string[] = []
  const handle = Object.assign(Object.create(real) as typeof real, {
    datasync: () => {
      calls.push('datasync')
      return real.datasync()
    },
    sync: () => {
      calls.push('sync')
      return real.sync()
    },
  })
  const writer = new FsBlobWriter(
    handle,
    { tempPath, finalPath: join(dir.path, 'blob'), metaPath: join(dir.path, 'blob.json') },
    { digest, size: data.length },
    createHash('sha256'),
  )
  const chunks = function* () {
    for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024)
  }
  await pipeline(Readable.from(chunks()), writer)
  await writer.commit()
  t.ok(calls.filter((c) => c === 'datasync').length >= 1, `flushed along the way: ${calls.join(', ')}`)
  t.equal(calls.at(-1), 'sync', 'and synced before the rename')
  t.ok((await readFile(join(dir.path, 'blob'))).equals(data))
})
