import type { IndexBeside, TagRecord } from '../cache/cache-index.js'
import { mediaTypes } from '../oci/media-types.js'

/** A tag as the cache holds it: the manifest it names for the clients that ask most. */
export interface TaggedImage {
  /** The upstream's index name (ImageUpstream.name). */
  upstream: string
  repo: string
  tag: string
  record: TagRecord
}

const INDEX_TYPES = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerList])

/**
 * Of the mappings a tag has (one per kind of client), the one that names the most: an
 * index or list over a platform manifest, and among equals the last confirmed upstream.
 */
export function preferredMapping(records: TagRecord[]): TagRecord | undefined {
  const rank = (r: TagRecord) => (INDEX_TYPES.has(r.mediaType) ? 1 : 0)
  return [...records].sort((a, b) => rank(b) - rank(a) || b.checkedAt - a.checkedAt)[0]
}

/** Every tag the index maps, once, sorted by upstream, repository and tag. */
export async function taggedImages(index: Pick<IndexBeside, 'listTags'>): Promise<TaggedImage[]> {
  const byTag = new Map<string, { upstream: string; repo: string; tag: string; records: TagRecord[] }>()
  for await (const { key, record } of index.listTags()) {
    const id = `${key.upstream} ${key.repo} ${key.tag}`
    const entry = byTag.get(id) ?? { upstream: key.upstream, repo: key.repo, tag: key.tag, records: [] }
    entry.records.push(record)
    byTag.set(id, entry)
  }
  return [...byTag.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { records, ...tag }]) => ({ ...tag, record: preferredMapping(records)! }))
}
