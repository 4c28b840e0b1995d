import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import { sha256 } from './http.js'
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

/**
 * Every file of a cache dir's blobs/, tmp/ and index/ with its sha256: what an operation
 * that was refused must leave exactly as it was. (Empty folders do not count: the blob
 * store makes them as it needs them.)
 */
export async function filesUnder(cacheDir: string): Promise<string[]> {
  const files: string[] = []
  for (const sub of ['blobs', 'tmp', 'index']) {
    const entries = await readdir(join(cacheDir, sub), { recursive: true, withFileTypes: true }).catch(() => [])
    for (const entry of entries) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath, entry.name)
      const data = await readFile(path)
      // An empty file holds nothing: opening the index makes its journals, empty, on a new dir.
      if (data.length === 0) continue
      files.push(`${path.slice(cacheDir.length + 1)} ${sha256(data)}`)
    }
  }
  return files.sort()
}

/**
 * Nothing of a private image passed through from `registry` is kept: no manifest or blob
 * on disk or in the index, no tag mapping, and a private verdict.
 */
export async function assertPrivateImageNotStored(
  t: Test,
  mirror: RunningMirror,
  registry: string,
  image: { repo: string; tag: string; digest: string; blobs: Array<{ digest: string }> },
): Promise<void> {
  await mirror.app.mirror.blobs.settled()
  for (const digest of [image.digest, ...image.blobs.map((b) => b.digest)]) {
    t.equal(await mirror.app.store.stat(digest), undefined, `${digest.slice(0, 19)}… not on disk`)
    t.equal(await mirror.app.index.getBlob(digest), undefined, `${digest.slice(0, 19)}… not in the index`)
  }
  t.same(await mirror.app.index.findTags(registry, image.repo, image.tag), [], 'no tag mapping')
  t.match(await mirror.app.index.getVerdict(registry, image.repo), { isPublic: false }, 'private to nobody')
}
