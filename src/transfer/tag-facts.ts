import type { Index, TagRecord } from '../cache/cache-index.js'
import { acceptKeysServing } from '../oci/media-types.js'

/** A tag on an upstream, as the index keys it (the upstream by its index name). */
export interface TagName {
  upstream: string
  repo: string
  tag: string
}

/**
 * Maps a tag to a manifest for every kind of client that accepts its type (see
 * acceptKeysServing), so that a pull by tag resolves without the upstream. A mapping the
 * upstream confirmed later than `record.checkedAt` is kept. Returns the keys written.
 */
export async function restoreTag(
  index: Pick<Index, 'getTag' | 'putTag'>,
  name: TagName,
  record: TagRecord,
): Promise<number> {
  let written = 0
  for (const accept of acceptKeysServing(record.mediaType)) {
    const key = { ...name, accept }
    const existing = await index.getTag(key)
    if (existing !== undefined && existing.checkedAt > record.checkedAt) continue
    await index.putTag(key, record)
    written++
  }
  return written
}

/**
 * Records a repository as public, as of `checkedAt`. A newer verdict stands, and so does
 * any private one: content brought in by hand never makes a repository the upstream
 * refused anonymous clients public. False when the repository stays private.
 */
export async function recordPublic(
  index: Pick<Index, 'getVerdict' | 'putVerdict'>,
  upstream: string,
  repo: string,
  checkedAt: number,
): Promise<boolean> {
  const existing = await index.getVerdict(upstream, repo)
  if (existing !== undefined && !existing.isPublic) return false
  if (existing === undefined || existing.checkedAt < checkedAt) {
    await index.putVerdict(upstream, repo, { isPublic: true, checkedAt })
  }
  return true
}
