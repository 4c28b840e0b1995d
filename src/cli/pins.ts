import { z } from 'zod'
import type { Pin } from '../cache/cache-index.js'
import { FsBlobStore } from '../cache/fs-blob-store.js'
import { openIndexBeside } from '../cache/open-index.js'
import { parseRecord } from '../cache/records.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { commandLog, configFrom, type Flags } from './settings.js'
import { upstreamsOf } from '../config/upstreams.js'
import { OperatorError } from '../errors.js'
import { parseDigest } from '../oci/digest.js'
import { imageName, resolveImage, type ImageRef, type ImageUpstream } from '../oci/image-ref.js'

/** What a pin needs of a manifest or an index: the digests it names. */
const descriptor = z.object({ digest: z.string() })
const manifestSchema = z.object({
  config: descriptor.optional(),
  layers: z.array(descriptor).optional(),
  manifests: z.array(descriptor).optional(),
})

/** Every digest an image needs, from the cache: its manifests (all platforms), configs, layers. */
async function cachedDigests(store: FsBlobStore, roots: string[]): Promise<string[]> {
  const found = new Set<string>()
  const walk = async (digest: string): Promise<void> => {
    if (found.has(digest)) return
    const body = await store.read(digest)
    if (body === undefined) throw new OperatorError(`${digest} is not cached: pull or prefetch the image first`)
    found.add(digest)
    const manifest = parseRecord(manifestSchema, body.toString('utf8'))
    if (manifest === undefined) throw new OperatorError(`${digest} is not a manifest an image can be pinned by`)
    for (const child of manifest.manifests ?? []) {
      // A platform the site never pulled is not cached; an index may still be pinned.
      if ((await store.stat(child.digest)) !== undefined) await walk(child.digest)
    }
    for (const blob of [manifest.config, ...(manifest.layers ?? [])]) {
      if (blob !== undefined) found.add(parseDigest(blob.digest).value)
    }
  }
  for (const root of roots) await walk(root)
  return [...found]
}

/**
 * Pins are kept under the image's full name (`docker.io/library/alpine:3.19`); before
 * image references were resolved they were kept as `library/alpine:3.19`, the name on
 * the one upstream, and such pins still count.
 */
function pinKeys(ref: ImageRef, upstreams: readonly ImageUpstream[]): { key: string; legacy?: string } {
  const key = imageName(ref)
  if (ref.upstream !== upstreams[0]) return { key }
  return { key, legacy: key.slice(ref.upstream.name.length + 1) }
}

/** A pin's name as the commands show it: stored names of the old form are shown in full. */
function shownName(image: string, upstreams: readonly ImageUpstream[]): string {
  try {
    return imageName(resolveImage(image, upstreams))
  } catch {
    return image
  }
}

/** `registry-mirror pin <image>`: the image's manifests and blobs are never evicted. */
export async function pinImage(config: Config, log: Logger, image: string): Promise<Pin> {
  const upstreams = upstreamsOf(config)
  const ref = resolveImage(image, upstreams)
  const key = imageName(ref)
  const store = new FsBlobStore(config.cacheDir)
  const index = await openIndexBeside(config, log)
  try {
    let roots: string[]
    if (ref.digest !== undefined) roots = [ref.digest]
    else {
      // A tag maps to one manifest per kind of client; those evicted since are not the image.
      const tags = await index.findTags(ref.upstream.name, ref.repo, ref.tag ?? 'latest')
      const mapped = [...new Set(tags.map((r) => r.digest))]
      const cached = await Promise.all(mapped.map(async (d) => ((await store.stat(d)) === undefined ? [] : [d])))
      roots = cached.flat()
    }
    if (roots.length === 0) throw new OperatorError(`${key} is not cached: pull or prefetch it first`)
    const digests = await cachedDigests(store, roots)
    const { legacy } = pinKeys(ref, upstreams)
    await index.pin(key, digests)
    if (legacy !== undefined) await index.unpin(legacy)
    return { image: key, digests }
  } finally {
    await index.close()
  }
}

export async function unpinImage(config: Config, log: Logger, image: string): Promise<boolean> {
  const index = await openIndexBeside(config, log)
  try {
    const upstreams = upstreamsOf(config)
    const { key, legacy } = pinKeys(resolveImage(image, upstreams), upstreams)
    const removed = await index.unpin(key)
    return (legacy !== undefined && (await index.unpin(legacy))) || removed
  } finally {
    await index.close()
  }
}

export async function listPins(config: Config, log: Logger): Promise<Pin[]> {
  const index = await openIndexBeside(config, log)
  try {
    const upstreams = upstreamsOf(config)
    return (await index.pins()).map((pin) => ({ ...pin, image: shownName(pin.image, upstreams) }))
  } finally {
    await index.close()
  }
}

/** `registry-mirror pin`, as the command line gives it. */
export async function pinAction(image: string, flags: Flags): Promise<void> {
  const config = configFrom(flags)
  const pin = await pinImage(config, commandLog(config), image)
  process.stdout.write(`pinned ${pin.image}: ${pin.digests.length} blobs and manifests\n`)
}

/** `registry-mirror unpin`, as the command line gives it. */
export async function unpinAction(image: string, flags: Flags): Promise<void> {
  const config = configFrom(flags)
  const removed = await unpinImage(config, commandLog(config), image)
  process.stdout.write(removed ? `unpinned ${image}\n` : `${image} was not pinned\n`)
}

/** `registry-mirror pins`, as the command line gives it. */
export async function pinsAction(flags: Flags): Promise<void> {
  const config = configFrom(flags)
  for (const pin of await listPins(config, commandLog(config))) {
    process.stdout.write(`${pin.image}\t${pin.digests.length}\n`)
  }
}
