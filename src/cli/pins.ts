import { join } from 'node:path'
import { z } from 'zod'
import type { Pin, TagRecord } from '../cache/cache-index.js'
import { FsBlobStore } from '../cache/fs-blob-store.js'
import { Journal } from '../cache/journal.js'
import { openIndex } from '../cache/open-index.js'
import { PinFile } from '../cache/pin-file.js'
import { parseRecord, TAG_JOURNAL } from '../cache/records.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { parseDigest } from '../oci/digest.js'
import { normaliseName, parseReference, validateName } from '../oci/reference.js'
import { routeOf } from '../oci/upstream-route.js'

/** What the pin commands need of the index. */
interface PinIndex {
  findTags(upstream: string, repo: string, tag: string): Promise<TagRecord[]>
  pin(image: string, digests: string[]): Promise<void>
  unpin(image: string): Promise<boolean>
  pins(): Promise<Pin[]>
  close(): Promise<void>
}

/**
 * The index for a command run beside a live mirror: Redis is shared as it is; for the
 * embedded index, the tag journal is only read and pins go to their own file, so
 * nothing the running mirror writes is touched.
 */
async function pinIndex(config: Config, log: Logger): Promise<PinIndex> {
  if (config.redisUrl !== undefined) return (await openIndex(config, log)).index
  const dir = join(config.cacheDir, 'index')
  const pins = new PinFile(join(dir, 'pins.jsonl'))
  return {
    findTags: async (upstream, repo, tag) => {
      const tags = await Journal.snapshot(join(dir, 'tags.jsonl'), TAG_JOURNAL)
      return [...tags].filter(([k]) => k.startsWith(`${upstream} ${repo} ${tag} `)).map(([, r]) => r)
    },
    pin: (image, digests) => pins.pin(image, digests),
    unpin: (image) => pins.unpin(image),
    pins: () => pins.pins(),
    close: async () => {},
  }
}

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
    if (body === undefined) throw new Error(`${digest} is not cached: pull the image through the mirror first`)
    found.add(digest)
    const manifest = parseRecord(manifestSchema, body.toString('utf8'))
    if (manifest === undefined) throw new Error(`${digest} is not a manifest an image can be pinned by`)
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
 * `name:tag` or `name@digest`, named as the cache names it: the upstream the name routes
 * to (a registry prefix, or the default), and the repository there. A pin of another
 * upstream's image keeps its registry in front.
 */
function parseImage(config: Config, image: string): { key: string; upstream: string; repo: string; reference: string } {
  const at = image.indexOf('@')
  const colon = image.lastIndexOf(':')
  const split = at >= 0 ? at : colon > image.lastIndexOf('/') ? colon : image.length
  const name = image.slice(0, split)
  const reference = split === image.length ? 'latest' : image.slice(split + 1)
  const route = routeOf({
    name,
    namespaces: [],
    upstreams: new Set(config.upstreams.map((u) => u.name)),
    defaultUpstream: config.upstream.name,
  })
  if (route.kind !== 'upstream') throw new Error(`${image}: the mirror does not serve its registry`)
  const upstream = config.upstreams.find((u) => u.name === route.upstream) ?? config.upstream
  const repo = normaliseName(validateName(route.name ?? ''), upstream.defaultNamespace)
  parseReference(reference)
  const shown = upstream === config.upstream ? repo : `${upstream.name}/${repo}`
  return { key: `${shown}${at >= 0 ? '@' : ':'}${reference}`, upstream: upstream.name, repo, reference }
}

/** `registry-mirror pin <image>`: the image's manifests and blobs are never evicted. */
export async function pinImage(config: Config, log: Logger, image: string): Promise<Pin> {
  const { key, upstream, repo, reference } = parseImage(config, image)
  const store = new FsBlobStore(config.cacheDir)
  const index = await pinIndex(config, log)
  try {
    let roots: string[]
    if (reference.includes(':')) roots = [parseDigest(reference).value]
    else {
      // A tag maps to one manifest per kind of client; those evicted since are not the image.
      const mapped = [...new Set((await index.findTags(upstream, repo, reference)).map((r) => r.digest))]
      const cached = await Promise.all(mapped.map(async (d) => ((await store.stat(d)) === undefined ? [] : [d])))
      roots = cached.flat()
    }
    if (roots.length === 0) throw new Error(`${key} is not cached: pull it through the mirror first`)
    const digests = await cachedDigests(store, roots)
    await index.pin(key, digests)
    return { image: key, digests }
  } finally {
    await index.close()
  }
}

export async function unpinImage(config: Config, log: Logger, image: string): Promise<boolean> {
  const index = await pinIndex(config, log)
  try {
    return await index.unpin(parseImage(config, image).key)
  } finally {
    await index.close()
  }
}

export async function listPins(config: Config, log: Logger): Promise<Pin[]> {
  const index = await pinIndex(config, log)
  try {
    return await index.pins()
  } finally {
    await index.close()
  }
}
