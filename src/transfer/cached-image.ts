import type { BlobStore } from '../cache/blob-store.js'
import { parseManifest, platformSchema, platformText, type Platform } from '../oci/manifest.js'

/** A platform of an image, by its manifest. */
export interface PlatformManifest {
  digest: string
  /** From the index entry, or for a single manifest from its config; absent for attestations. */
  platform?: Platform
}

/** What the cache holds of one image, found by walking its manifests. */
export interface CachedImage {
  digest: string
  mediaType: string
  size: number
  kind: 'image' | 'index'
  /** Platforms whose manifest, config and every layer are cached. */
  platforms: PlatformManifest[]
  /** Platforms with something missing, and what (an uncached platform misses its manifest). */
  incomplete: Array<PlatformManifest & { missing: string[] }>
  /** Every cached piece of the complete platforms, the root included: digest → size. */
  blobs: Map<string, number>
}

/** The part of an image config that says what platform it runs on. */
const configPlatformSchema = platformSchema.partial()

/** The platform an image config names, when it is cached and says. */
export async function configPlatform(store: BlobStore, digest: string): Promise<Platform | undefined> {
  const body = await store.read(digest)
  if (body === undefined) return undefined
  try {
    const parsed = configPlatformSchema.safeParse(JSON.parse(body.toString('utf8')))
    const p = parsed.success ? parsed.data : undefined
    if (p?.os === undefined || p.architecture === undefined) return undefined
    return { os: p.os, architecture: p.architecture, ...(p.variant === undefined ? {} : { variant: p.variant }) }
  } catch {
    return undefined
  }
}

/** A platform manifest's pieces: which are cached (with sizes) and which are missing. */
async function imagePieces(
  store: BlobStore,
  digest: string,
): Promise<{ found: Map<string, number>; missing: string[]; config?: string }> {
  const found = new Map<string, number>()
  const stored = await store.stat(digest)
  const body = stored === undefined ? undefined : await store.read(digest)
  if (stored === undefined || body === undefined) return { found, missing: [digest] }
  const manifest = parseManifest(body, stored.mediaType)
  if (manifest?.kind !== 'image') return { found, missing: [digest] }
  found.set(digest, stored.size)
  const missing: string[] = []
  for (const blob of [manifest.config, ...manifest.layers]) {
    const held = await store.stat(blob.digest)
    if (held === undefined) missing.push(blob.digest)
    else found.set(blob.digest, held.size)
  }
  return { found, missing, config: manifest.config.digest }
}

/** One platform manifest, complete or not, added to the image's account. */
async function addPlatform(store: BlobStore, image: CachedImage, digest: string, listed?: Platform): Promise<void> {
  const pieces = await imagePieces(store, digest)
  const platform = listed ?? (pieces.config === undefined ? undefined : await configPlatform(store, pieces.config))
  const described = { digest, ...(platform === undefined ? {} : { platform }) }
  if (pieces.missing.length > 0) {
    image.incomplete.push({ ...described, missing: pieces.missing })
    return
  }
  image.platforms.push(described)
  for (const [d, size] of pieces.found) image.blobs.set(d, size)
}

/**
 * Walks an image from its root manifest in the cache. Undefined when the root itself is
 * not cached or is no manifest the commands read.
 */
export async function cachedImage(store: BlobStore, root: string): Promise<CachedImage | undefined> {
  const stored = await store.stat(root)
  const body = stored === undefined ? undefined : await store.read(root)
  if (stored === undefined || body === undefined) return undefined
  const manifest = parseManifest(body, stored.mediaType)
  if (manifest === undefined) return undefined
  const image: CachedImage = {
    digest: root,
    mediaType: manifest.mediaType,
    size: stored.size,
    kind: manifest.kind,
    platforms: [],
    incomplete: [],
    blobs: new Map([[root, stored.size]]),
  }
  if (manifest.kind === 'image') await addPlatform(store, image, root)
  else for (const entry of manifest.manifests) await addPlatform(store, image, entry.digest, entry.platform)
  return image
}

/** Bytes of the image's cached pieces. */
export function imageBytes(image: CachedImage): number {
  let total = 0
  for (const size of image.blobs.values()) total += size
  return total
}

/** `linux/amd64, linux/arm64 (2 of 3)`: the platforms held, and how many there are (attestations aside). */
export function platformSummary(image: CachedImage): string {
  const name = (p: PlatformManifest) => (p.platform === undefined ? 'unknown' : platformText(p.platform))
  const real = (p: PlatformManifest) => p.platform?.os !== 'unknown'
  const held = image.platforms.filter(real).map(name)
  const all = held.length + image.incomplete.filter(real).length
  const list = held.join(', ') || '-'
  return held.length === all ? list : `${list} (${held.length} of ${all})`
}
