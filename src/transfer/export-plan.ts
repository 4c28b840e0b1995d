import type { BlobStore } from '../cache/blob-store.js'
import type { IndexBeside, TagRecord } from '../cache/cache-index.js'
import { OperatorError } from '../errors.js'
import { imageName, resolveImage, type ImageRef, type ImageUpstream } from '../oci/image-ref.js'
import { cachedImage, type CachedImage } from './cached-image.js'
import { preferredMapping, taggedImages } from './tagged-images.js'

/** What to export: named images, every tagged image, or every pinned one. */
export interface ExportSelection {
  images: string[]
  all: boolean
  pinned: boolean
}

/** One image to write, under one name. */
export interface ExportedImage {
  name: string
  image: CachedImage
  tagCheckedAt?: number
  verdictCheckedAt?: number
}

export interface ExportPlan {
  images: ExportedImage[]
  /** Every blob of those images, digest → size: manifests, configs and layers. */
  blobs: Map<string, number>
  /** Names left out, and why (--all and --pinned only: a named image is never left out). */
  skipped: string[]
}

interface Wanted {
  name: string
  ref: ImageRef
  /** Named on the command line: a problem with it fails the export. */
  named: boolean
}

interface Context {
  store: BlobStore
  index: Pick<IndexBeside, 'findTags' | 'listTags' | 'getVerdict' | 'pins'>
  upstreams: readonly ImageUpstream[]
}

async function wanted(ctx: Context, selection: ExportSelection): Promise<Wanted[]> {
  const out: Wanted[] = selection.images.map((text) => {
    const ref = resolveImage(text, ctx.upstreams)
    return { name: imageName(ref), ref, named: true }
  })
  if (selection.pinned) {
    for (const pin of await ctx.index.pins()) {
      const ref = resolveImage(pin.image, ctx.upstreams)
      out.push({ name: imageName(ref), ref, named: false })
    }
  }
  if (selection.all) {
    for (const tagged of await taggedImages(ctx.index)) {
      // Tags of an upstream no longer configured are still named by it.
      const upstream = ctx.upstreams.find((u) => u.name === tagged.upstream) ?? {
        name: tagged.upstream,
        defaultNamespace: '',
      }
      const ref: ImageRef = { upstream, repo: tagged.repo, tag: tagged.tag }
      out.push({ name: imageName(ref), ref, named: false })
    }
  }
  const seen = new Set<string>()
  return out.filter((w) => !seen.has(w.name) && seen.add(w.name) !== undefined)
}

/** The cached manifest a reference names: its digest, or the best cached mapping of its tag. */
async function rootOf(ctx: Context, ref: ImageRef): Promise<{ digest: string; tag?: TagRecord } | undefined> {
  if (ref.digest !== undefined) return { digest: ref.digest }
  const mappings = await ctx.index.findTags(ref.upstream.name, ref.repo, ref.tag ?? 'latest')
  const cached = []
  for (const m of mappings) if ((await ctx.store.stat(m.digest)) !== undefined) cached.push(m)
  const tag = preferredMapping(cached)
  return tag === undefined ? undefined : { digest: tag.digest, tag }
}

/** Why an image cannot be carried, or undefined when it can. */
function problemWith(w: Wanted, image: CachedImage | undefined): string | undefined {
  if (image === undefined) return `${w.name} is not cached (pull or prefetch it first)`
  if (image.platforms.length > 0) return undefined
  const missing = image.incomplete.flatMap((p) => p.missing)
  const which = image.kind === 'index' ? 'none of its platforms is cached whole' : `it misses ${missing.join(', ')}`
  return `${w.name}: ${which} (pull or prefetch it again)`
}

/**
 * Decides everything before a byte is written: which manifest each name means, that
 * each is cached whole (every platform of an index that is cached at all: the others
 * are left out, as the mirror itself serves an index whose other platforms were never
 * pulled), and the blobs to carry. A named image that cannot be carried fails the
 * export with every such problem in one message.
 */
export async function planExport(ctx: Context, selection: ExportSelection): Promise<ExportPlan> {
  const plan: ExportPlan = { images: [], blobs: new Map(), skipped: [] }
  const problems: string[] = []
  for (const w of await wanted(ctx, selection)) {
    const root = await rootOf(ctx, w.ref)
    const image = root === undefined ? undefined : await cachedImage(ctx.store, root.digest)
    const problem = problemWith(w, image)
    if (problem !== undefined || image === undefined) {
      if (w.named) problems.push(problem ?? w.name)
      else plan.skipped.push(problem ?? w.name)
      continue
    }
    const verdict = await ctx.index.getVerdict(w.ref.upstream.name, w.ref.repo)
    plan.images.push({
      name: w.name,
      image,
      ...(root?.tag === undefined ? {} : { tagCheckedAt: root.tag.checkedAt }),
      ...(verdict?.isPublic === true ? { verdictCheckedAt: verdict.checkedAt } : {}),
    })
    for (const [digest, size] of image.blobs) plan.blobs.set(digest, size)
  }
  if (problems.length > 0) throw new OperatorError(`cannot export: ${problems.join('; ')}`)
  if (plan.images.length === 0) throw new OperatorError('nothing to export: name images, or use --all or --pinned')
  return plan
}
