// The disk writer flushes as it goes, so the fsync before the rename has only the tail.
import { createHash } from 'node:crypto'
import { access, open, readFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t, { type Test } from 'tap'
import { FsBlobWriter } from '../../src/cache/fs-blob-writer.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const MiB = 1024 * 1024

/** A 40 MiB blob written through a handle whose datasync is `datasync`. */
async function writeBlob(t: Test, datasync: (real: FileHandle) => Promise<void>) {
  const dir = await makeTempDir('writer-sync')
  t.teardown(dir.remove)
  const data = Buffer.alloc(40 * MiB)
  for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const tempPath = join(dir.path, 'blob.tmp')
  const finalPath = join(dir.path, 'blob')
  const real = await open(tempPath, 'w')
  const calls: string[] = []
  const handle = Object.assign(Object.create(real) as FileHandle, {
    datasync: () => {
      calls.push('datasync')
      return datasync(real)
    },
    sync: () => {
      calls.push('sync')
      return real.sync()
    },
  })
  const writer = new FsBlobWriter(
    handle,
    { tempPath, finalPath, metaPath: join(dir.path, 'blob.json') },
    { digest, size: data.length },
    createHash('sha256'),
  )
  const chunks = function* () {
    for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024)
  }
  const written = pipeline(Readable.from(chunks()), writer).then(() => writer.commit())
  return { written, calls, data, finalPath, writer }
}

t.test('a large blob is flushed in steps while it is written, then synced once more', async (t) => {
  const { written, calls, data, finalPath } = await writeBlob(t, (real) => real.datasync())
  await written
  t.ok(calls.filter((c) => c === 'datasync').length >= 1, `flushed along the way: ${calls.join(', ')}`)
  t.equal(calls.at(-1), 'sync', 'and synced before the rename')
  t.ok((await readFile(finalPath)).equals(data))
})

t.test('a flush that fails fails the blob: Linux tells only one fsync of a lost write', async (t) => {
  const eio = () => Promise.reject(Object.assign(new Error('input/output error'), { code: 'EIO' }))
  const { written, finalPath, writer } = await writeBlob(t, eio)
  await t.rejects(written, { code: 'EIO' })
  await writer.abort()
  await t.rejects(access(finalPath), { code: 'ENOENT' }, 'nothing was renamed into the cache')
})
