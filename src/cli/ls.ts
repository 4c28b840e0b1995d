import { FsBlobStore } from '../cache/fs-blob-store.js'
import { openIndexBeside } from '../cache/open-index.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { platformText } from '../oci/manifest.js'
import { cachedImage, imageBytes, platformSummary } from '../transfer/cached-image.js'
import { taggedImages } from '../transfer/tagged-images.js'
import { commandLog, configFrom, type Flags } from './settings.js'
import { formatBytes, formatTable, formatTime, shortDigest } from './table.js'

export interface ListedImage {
  /** `docker.io/library/alpine:3.19`. */
  name: string
  /** The registry the image comes from, as references name it. */
  upstream: string
  repository: string
  tag: string
  digest: string
  mediaType: string
  /** `linux/amd64, linux/arm64 (2 of 3)`: the platforms held whole, and how many there are. */
  platformSummary: string
  /** Platforms held whole. */
  platforms: string[]
  /** Platforms the image offers that are not (wholly) cached. */
  incompletePlatforms: string[]
  /** Bytes of what is cached of it. */
  size: number
  /** Milliseconds since the epoch: the last use the index knows of, or when it was cached. */
  lastPulled: number
  pinned: boolean
}

export interface CacheListing {
  images: ListedImage[]
  /** Everything in the cache dir, tagged or not. */
  blobs: number
  bytes: number
}

/**
 * What the cache holds, read without writing anything: a snapshot of the index and the
 * blob store, safe beside a live mirror.
 */
export async function listCache(config: Config, log: Logger): Promise<CacheListing> {
  const store = new FsBlobStore(config.cacheDir)
  const index = await openIndexBeside(config, log)
  try {
    const pinned = new Set((await index.pins()).flatMap((p) => p.digests))
    const images: ListedImage[] = []
    for (const tagged of await taggedImages(index)) {
      const image = await cachedImage(store, tagged.record.digest)
      if (image === undefined) continue
      const upstream = tagged.upstream
      const root = await store.stat(image.digest)
      const used = (await index.getBlob(image.digest))?.lastAccess ?? 0
      images.push({
        name: `${upstream}/${tagged.repo}:${tagged.tag}`,
        upstream,
        repository: tagged.repo,
        tag: tagged.tag,
        digest: image.digest,
        mediaType: image.mediaType,
        platformSummary: platformSummary(image),
        platforms: image.platforms.map((p) => (p.platform === undefined ? 'unknown' : platformText(p.platform))),
        incompletePlatforms: image.incomplete.map((p) =>
          p.platform === undefined ? p.digest : platformText(p.platform),
        ),
        size: imageBytes(image),
        lastPulled: Math.max(used, tagged.record.checkedAt, root?.mtimeMs ?? 0),
        pinned: pinned.has(image.digest),
      })
    }
    let blobs = 0
    let bytes = 0
    for await (const blob of store.list()) {
      blobs++
      bytes += blob.size
    }
    return { images, blobs, bytes }
  } finally {
    await index.close()
  }
}

export function renderListing(listing: CacheListing, cacheDir: string): string {
  const rows = [['IMAGE', 'DIGEST', 'PLATFORMS', 'SIZE', 'LAST PULLED', 'PINNED']]
  for (const image of listing.images) {
    rows.push([
      image.name,
      shortDigest(image.digest),
      image.platformSummary,
      formatBytes(image.size),
      formatTime(image.lastPulled),
      image.pinned ? 'yes' : 'no',
    ])
  }
  const total = `${listing.images.length} images; ${listing.blobs} blobs, ${formatBytes(listing.bytes)} in ${cacheDir}`
  return `${formatTable(rows)}\n${total}\n`
}

/** `registry-mirror ls`, as the command line gives it. */
export async function lsAction(flags: Flags & { json?: boolean }): Promise<void> {
  const { json, ...settings } = flags
  const config = configFrom(settings)
  const listing = await listCache(config, commandLog(config))
  process.stdout.write(
    json === true ? JSON.stringify(listing, null, 2) + '\n' : renderListing(listing, config.cacheDir),
  )
}
