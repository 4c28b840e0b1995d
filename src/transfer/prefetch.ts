import type { BlobStore } from '../cache/blob-store.js'
import type { Index } from '../cache/cache-index.js'
import { messageOf, MirrorError, UpstreamStatusError, UpstreamUnavailableError } from '../errors.js'
import type { Logger } from '../logger.js'
import { parseDigest } from '../oci/digest.js'
import { imageName, type ImageRef } from '../oci/image-ref.js'
import { parseManifest, platformText, type Descriptor, type Platform } from '../oci/manifest.js'
import { platformMatches, platformsOffered, selectPlatforms } from '../oci/platform.js'
import type { Reference } from '../oci/reference.js'
import { configPlatform } from './cached-image.js'
import type { PrefetchSource } from './prefetch-source.js'
import { restoreTag } from './tag-facts.js'

export interface PrefetchDeps {
  source: PrefetchSource
  store: BlobStore
  index: Pick<Index, 'getTag' | 'putTag' | 'pin'>
  log: Logger
  now: () => number
}

export interface PrefetchOptions {
  /** Only these platforms of an index; all of them when absent. */
  platforms?: Platform[]
  /** Blobs fetched at once, across all images. */
  concurrency: number
  /** Pin what was fetched, under the image's full name. */
  pin: boolean
}

export interface PrefetchResult {
  image: string
  digest: string
  platforms: string[]
  /** Bytes of the image: its manifests, configs and layers. */
  size: number
  /** Of those, the bytes fetched now (the rest was cached). */
  newBytes: number
  pinned: boolean
}

export interface PrefetchOutcome {
  /** The images that completed, in the order asked. */
  results: PrefetchResult[]
  failed: number
}

/** What a prefetch tells as it goes: the command renders it, here or over the control socket. */
export type PrefetchEvent =
  | { type: 'start'; image: string; bytes: number; cachedBytes: number }
  | { type: 'bytes'; image: string; bytes: number }
  | { type: 'done'; result: PrefetchResult }
  | { type: 'failed'; image: string; message: string }

/** At most `n` tasks at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: Array<() => void> = []
  return async (task) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve))
    running++
    try {
      return await task()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}

/** An image's pieces, as its manifests list them. */
interface Plan {
  digest: string
  platforms: string[]
  /** Manifests (with their bytes' sizes) and blobs to have: digest → size. */
  pieces: Map<string, number>
  blobs: Descriptor[]
  fetchedBytes: number
  /** For a single manifest: its config, which says its platform. */
  single?: string
}

/** Why an image failed, as the operator reads it. */
function reason(e: unknown): string {
  if (e instanceof UpstreamUnavailableError) return `upstream not reachable (${e.message})`
  if (e instanceof UpstreamStatusError || e instanceof MirrorError) {
    if (e.status === 404 || e.status === 401 || e.status === 403) return 'not found upstream, or not public'
    return `upstream answered ${e.status}`
  }
  return messageOf(e)
}

async function planImage(deps: PrefetchDeps, ref: ImageRef, options: PrefetchOptions): Promise<Plan> {
  const reference: Reference =
    ref.digest === undefined
      ? { kind: 'tag', tag: ref.tag ?? 'latest' }
      : { kind: 'digest', digest: parseDigest(ref.digest) }
  const root = await deps.source.manifest(ref, reference, deps.log)
  if (root.private) {
    throw new Error('the upstream does not let anonymous clients pull it: the mirror caches public images only')
  }
  const manifest = parseManifest(root.body, root.mediaType)
  if (manifest === undefined) throw new Error(`${root.digest} is not a manifest this can prefetch (schema 2 or OCI)`)
  const plan: Plan = {
    digest: root.digest,
    platforms: [],
    pieces: new Map([[root.digest, root.size]]),
    blobs: [],
    fetchedBytes: root.fetched ? root.size : 0,
  }
  if (ref.digest === undefined && ref.tag !== undefined) {
    const record = { digest: root.digest, mediaType: root.mediaType, size: root.size, checkedAt: deps.now() }
    await restoreTag(deps.index, { upstream: ref.upstream.name, repo: ref.repo, tag: ref.tag }, record)
  }
  if (manifest.kind === 'image') {
    plan.blobs.push(manifest.config, ...manifest.layers)
    plan.single = manifest.config.digest
    return plan
  }
  const choice = selectPlatforms(manifest.manifests, options.platforms)
  if (choice.missing.length > 0) {
    throw new Error(
      `no ${choice.missing.map(platformText).join(', ')} in it (it has ${platformsOffered(manifest.manifests)})`,
    )
  }
  for (const entry of choice.selected) {
    const child = await deps.source.manifest(ref, { kind: 'digest', digest: parseDigest(entry.digest) }, deps.log)
    const platform = parseManifest(child.body, child.mediaType)
    if (platform?.kind !== 'image') throw new Error(`${entry.digest} is not a platform manifest`)
    plan.pieces.set(child.digest, child.size)
    if (child.fetched) plan.fetchedBytes += child.size
    if (entry.platform !== undefined && entry.platform.os !== 'unknown') {
      plan.platforms.push(platformText(entry.platform))
    }
    plan.blobs.push(platform.config, ...platform.layers)
  }
  return plan
}

type Limit = <T>(task: () => Promise<T>) => Promise<T>

/** Fetches the blobs not cached yet, up to the limit at once; returns the bytes fetched. */
async function fetchMissing(
  deps: PrefetchDeps,
  ref: ImageRef,
  blobs: Descriptor[],
  limit: Limit,
  onBytes: (n: number) => void,
): Promise<number> {
  let fetched = 0
  const count = (n: number) => {
    fetched += n
    onBytes(n)
  }
  await Promise.all(blobs.map((b) => limit(() => deps.source.blob(ref, b.digest, deps.log, count))))
  return fetched
}

/** One image, start to end; a failure is told and returned, never thrown: the others go on. */
async function prefetchImage(
  deps: PrefetchDeps,
  ref: ImageRef,
  options: PrefetchOptions,
  limit: Limit,
  emit: (event: PrefetchEvent) => void,
): Promise<PrefetchResult | undefined> {
  const image = imageName(ref)
  try {
    const plan = await planImage(deps, ref, options)
    const blobs = [...new Map(plan.blobs.map((b) => [b.digest, b])).values()]
    // Cached blobs are skipped without a request.
    const missing: Descriptor[] = []
    for (const b of blobs) if ((await deps.store.stat(b.digest)) === undefined) missing.push(b)
    const bytes = missing.reduce((n, b) => n + b.size, 0)
    const cachedBytes = blobs.reduce((n, b) => n + b.size, 0) - bytes
    emit({ type: 'start', image, bytes, cachedBytes })
    const onBytes = (n: number) => emit({ type: 'bytes', image, bytes: n })
    let newBytes = plan.fetchedBytes
    if (plan.single !== undefined) {
      // A single manifest's platform is in its config: fetched first, to check it.
      const config = missing.filter((b) => b.digest === plan.single)
      newBytes += await fetchMissing(deps, ref, config, limit, onBytes)
      checkSinglePlatform(plan, await configPlatform(deps.store, plan.single), options.platforms)
    }
    newBytes += await fetchMissing(
      deps,
      ref,
      missing.filter((b) => b.digest !== plan.single),
      limit,
      onBytes,
    )
    for (const b of blobs) plan.pieces.set(b.digest, b.size)
    if (options.pin) await deps.index.pin(image, [...plan.pieces.keys()])
    const size = [...plan.pieces.values()].reduce((a, b) => a + b, 0)
    const result = { image, digest: plan.digest, platforms: plan.platforms, size, newBytes, pinned: options.pin }
    emit({ type: 'done', result })
    return result
  } catch (e) {
    deps.log.debug({ err: e, image }, 'prefetch failed')
    emit({ type: 'failed', image, message: reason(e) })
    return undefined
  }
}

function checkSinglePlatform(plan: Plan, platform: Platform | undefined, wanted: Platform[] | undefined): void {
  if (platform !== undefined) plan.platforms.push(platformText(platform))
  if (wanted === undefined || wanted.length === 0) return
  if (platform === undefined || !wanted.some((w) => platformMatches(platform, w))) {
    throw new Error(
      `it is a single ${platform === undefined ? 'unknown' : platformText(platform)} image, not ${wanted.map(platformText).join(', ')}`,
    )
  }
}

/**
 * `registry-mirror prefetch`: each image's manifest or index through the mirror, then the
 * manifests of all its platforms or the named ones, their configs and layers — every
 * byte through the verified fill path a pull takes. Up to `concurrency` blobs at once,
 * across images. An image that fails is told and the others complete. Interrupted, it
 * resumes where it stopped: what was committed is cached, a partial blob never is.
 */
export async function prefetch(
  deps: PrefetchDeps,
  refs: ImageRef[],
  options: PrefetchOptions,
  emit: (event: PrefetchEvent) => void,
): Promise<PrefetchOutcome> {
  const blobs = limiter(options.concurrency)
  const images = limiter(options.concurrency)
  const outcomes = await Promise.all(refs.map((ref) => images(() => prefetchImage(deps, ref, options, blobs, emit))))
  const results = outcomes.filter((r): r is PrefetchResult => r !== undefined)
  return { results, failed: outcomes.length - results.length }
}
