import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { RunningMirror } from './mirror.js'

/** After a failed fill: no file, no temp file, no index record, no fill still running. */
export async function assertNothingCached(t: Test, mirror: RunningMirror, digest: string): Promise<void> {
  await mirror.app.mirror.blobs.settled()
  t.equal(await mirror.app.store.stat(digest), undefined, 'no cached file')
  t.same(await readdir(join(mirror.cacheDir, 'tmp')), [], 'no temp file left')
  t.equal(await mirror.app.index.getBlob(digest), undefined, 'no index record')
  t.equal(mirror.app.mirror.blobs.inFlight, 0, 'no fill still running')
}

/** Where Distribution keeps a blob's bytes in its storage dir. */
export function registryBlobPath(storageDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')
}
