import { Readable } from 'node:stream'
import type { Test } from 'tap'
import type { BlobStore } from '../../src/cache/blob-store.js'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { silentLogger } from '../../src/logger.js'
import type { FillJob } from '../../src/mirror/fill/fill.js'
import type { UpstreamResponse } from '../../src/upstream/upstream-client.js'
import { makeTempDir } from './temp-dir.js'

/** `data` as an upstream body of `chunk`-byte chunks. */
export function bodyOf(data: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk)
    })(),
  )
}

/** What a fill needs to download `body` (an upstream 200 of `size` bytes) into `store`. */
export function fillFrom(store: BlobStore, size: number, body: Readable): FillJob {
  return {
    fetch: async () => ({
      response: {
        status: 200,
        headers: { 'content-length': String(size) },
        // Only the stream side of a response body is used by a fill.
        body: body as unknown as UpstreamResponse['body'],
      },
      origin: 'upstream',
    }),
    store,
    onCommitted: async () => {},
    onBytes: () => {},
    release: async () => {},
    log: silentLogger,
  }
}

/** A blob store in a temp dir removed when `t` ends. */
export async function tempStore(t: Test, name: string): Promise<FsBlobStore> {
  const dir = await makeTempDir(name)
  t.teardown(dir.remove)
  const store = new FsBlobStore(dir.path)
  await store.init()
  return store
}
