import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Test } from 'tap'
import type { BlobStore, OpenBlob } from '../../src/cache/blob-store.js'
import { UpstreamContentError } from '../../src/errors.js'

export interface BlobStoreHarness {
  open(): Promise<BlobStore>
  /** Names of temp files the store holds now (must be none once writes have settled). */
  tempFiles(store: BlobStore): Promise<string[]>
}

export const digestOf = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`

export async function readRange(blob: OpenBlob, start = 0, end = blob.size - 1): Promise<Buffer> {
  const buffer = Buffer.alloc(end - start + 1)
  let done = 0
  while (done < buffer.length) {
    const n = await blob.read(buffer.subarray(done), start + done, buffer.length - done)
    if (n === 0) throw new Error('short read')
    done += n
  }
  return buffer
}

export async function write(store: BlobStore, data: Buffer, expected = { digest: digestOf(data), size: data.length }) {
  const writer = await store.createWriter(expected)
  try {
    await pipeline(Readable.from([data.subarray(0, 3), data.subarray(3)]), writer)
    return await writer.commit()
  } finally {
    await writer.abort()
  }
}

/** What every BlobStore must do: commit only verified bytes, and leave nothing behind otherwise. */
export function blobStoreContract(t: Test, harness: BlobStoreHarness): void {
  const data = Buffer.from('hello, content-addressed world')

  t.test('a verified write becomes readable, whole or by range', async (t) => {
    const store = await harness.open()
    const digest = digestOf(data)
    t.equal(await store.stat(digest), undefined)
    const stored = await write(store, data)
    t.match(stored, { digest, size: data.length })
    t.match(await store.stat(digest), { digest, size: data.length })
    t.same(await store.read(digest), data)
    const blob = await store.open(digest)
    t.equal(blob?.size, data.length)
    t.same(await readRange(blob!, 7, 13), data.subarray(7, 14))
    t.same(await readRange(blob!), data)
    await blob!.close()
    await blob!.close()
    t.same(await harness.tempFiles(store), [])
  })

  t.test('bytes that do not match the digest never become visible', async (t) => {
    const store = await harness.open()
    const wrong = `sha256:${'0'.repeat(64)}`
    await t.rejects(write(store, data, { digest: wrong, size: data.length }), UpstreamContentError)
    t.equal(await store.stat(wrong), undefined)
    t.same(await harness.tempFiles(store), [], 'temp file removed')
  })

  t.test('too few or too many bytes fail the write', async (t) => {
    const store = await harness.open()
    const digest = digestOf(data)
    await t.rejects(write(store, data, { digest, size: data.length + 1 }), /announced/)
    await t.rejects(write(store, data, { digest, size: data.length - 1 }), /more than the announced/)
    t.equal(await store.stat(digest), undefined)
    t.same(await harness.tempFiles(store), [])
  })

  t.test('an aborted write leaves nothing; abort is idempotent and safe after commit', async (t) => {
    const store = await harness.open()
    const writer = await store.createWriter({ digest: digestOf(data), size: data.length })
    writer.write(data.subarray(0, 5))
    await writer.abort()
    await writer.abort()
    t.equal(await store.stat(digestOf(data)), undefined)
    t.same(await harness.tempFiles(store), [])
    const committed = await write(store, data)
    t.equal(committed.size, data.length, 'write() aborted after commit without undoing it')
    t.ok(await store.stat(digestOf(data)))
  })

  t.test('manifests keep their media type and upstream', async (t) => {
    const store = await harness.open()
    const manifest = Buffer.from('{"schemaVersion":2}')
    const digest = digestOf(manifest)
    const writer = await store.createWriter({
      digest,
      size: manifest.length,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      upstream: 'registry.example',
    })
    await pipeline(Readable.from([manifest]), writer)
    await writer.commit()
    t.match(await store.stat(digest), {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      upstream: 'registry.example',
    })
    const listed = []
    for await (const blob of store.list()) listed.push(blob)
    t.match(listed, [{ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' }])
  })

  t.test('delete and list', async (t) => {
    const store = await harness.open()
    const a = Buffer.from('a')
    const b = Buffer.from('b')
    await write(store, a)
    await write(store, b)
    const listed = []
    for await (const blob of store.list()) listed.push(blob.digest)
    t.same(listed.sort(), [digestOf(a), digestOf(b)].sort())
    await store.delete(digestOf(a))
    await store.delete(digestOf(a))
    t.equal(await store.open(digestOf(a)), undefined)
    t.equal(await store.read(digestOf(a)), undefined)
  })

  t.test('a blob read and then deleted is gone', async (t) => {
    const store = await harness.open()
    await write(store, data)
    const blob = await store.open(digestOf(data))
    t.same(await readRange(blob!), data)
    await blob!.close()
    await store.delete(digestOf(data))
    t.equal(await store.open(digestOf(data)), undefined)
    t.equal(await store.read(digestOf(data)), undefined)
  })

  t.test('an open blob stays readable after it is deleted', async (t) => {
    const store = await harness.open()
    await write(store, data)
    const blob = await store.open(digestOf(data))
    await store.delete(digestOf(data))
    t.same(await readRange(blob!), data)
    await blob!.close()
  })
}
