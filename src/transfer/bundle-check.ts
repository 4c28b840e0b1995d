import { messageOf } from '../errors.js'
import { imageName, resolveImage, type ImageRef, type ImageUpstream } from '../oci/image-ref.js'
import { parseManifest, type Descriptor, type Manifest } from '../oci/manifest.js'
import { parseRecord } from '../cache/records.js'
import { BundleError } from './bundle-entries.js'
import {
  CONTAINERD_NAME,
  descriptionSchema,
  INDEX_FILE,
  indexJsonSchema,
  MARKER_FILE,
  markerSchema,
  OCI_LAYOUT_FILE,
  ociLayoutSchema,
  REF_NAME,
  sha256Of,
  type BundleDescription,
  type BundledImage,
  type IndexJson,
} from './bundle-format.js'

/** A blob as the import sees it: carried by the bundle, or already in the cache. */
export interface KnownBlob {
  size: number
  inBundle: boolean
  read(): Promise<Buffer>
}
export type Lookup = (digest: string) => Promise<KnownBlob | undefined>

export interface CheckedImage {
  /** Named by the bundle (index.json), resolved to an upstream; absent for an unnamed entry. */
  ref?: ImageRef
  name?: string
  digest: string
  mediaType: string
  size: number
  /** The exporting mirror's facts on it, from our bundles. */
  facts?: BundledImage
  /** Platform manifests held whole (in the bundle or the cache), of those listed. */
  held: number
  listed: number
  /** Every blob of the image that is held: manifests, configs, layers. */
  digests: string[]
}

export interface CheckedBundle {
  images: CheckedImage[]
  description?: BundleDescription
}

/** What the checks found wrong; the bundle is refused with all of it (the first few). */
class Problems {
  private readonly found = new Set<string>()
  add(problem: string): void {
    this.found.add(problem)
  }
  throwIfAny(): void {
    if (this.found.size === 0) return
    const list = [...this.found]
    const more = list.length > 5 ? ` (and ${list.length - 5} more)` : ''
    throw new BundleError(`bundle refused: ${list.slice(0, 5).join('; ')}${more}`)
  }
}

/** The name an index.json entry gives its image: containerd's full name first, else a ref name that is one. */
export function entryName(annotations: Record<string, string> | undefined): string | undefined {
  const candidates = [annotations?.[CONTAINERD_NAME], annotations?.[REF_NAME]]
  // A ref name without `/`, `:` or `@` is a bare tag (as skopeo and docker may write it): no repository.
  return candidates.find((n) => n !== undefined && /[/:@]/.test(n))
}

function layoutFiles(files: Map<string, Buffer>, problems: Problems): IndexJson | undefined {
  const layout = parseRecord(ociLayoutSchema, files.get(OCI_LAYOUT_FILE)?.toString('utf8'))
  if (layout === undefined) {
    problems.add(
      'not an OCI image layout: no valid oci-layout file (a `docker save` from before Docker 25 writes another format)',
    )
  } else if (!layout.imageLayoutVersion.startsWith('1.')) {
    problems.add(`OCI image layout version ${layout.imageLayoutVersion} is not one this reads (1.x)`)
  }
  const index = parseRecord(indexJsonSchema, files.get(INDEX_FILE)?.toString('utf8'))
  if (index === undefined) problems.add('no valid index.json')
  return index
}

/**
 * Our bundles name their description by digest in registry-mirror.json; the description
 * must be in the bundle, and must hold the sha256 of index.json as it came.
 */
async function described(
  files: Map<string, Buffer>,
  lookup: Lookup,
  problems: Problems,
): Promise<BundleDescription | undefined> {
  const markerText = files.get(MARKER_FILE)
  if (markerText === undefined) return undefined
  const marker = parseRecord(markerSchema, markerText.toString('utf8'))
  const blob = marker === undefined ? undefined : await lookup(marker.bundle)
  const description =
    blob?.inBundle === true ? parseRecord(descriptionSchema, (await blob.read()).toString('utf8')) : undefined
  if (description === undefined) {
    problems.add(`${MARKER_FILE} does not name a bundle description the bundle holds`)
    return undefined
  }
  const indexJson = files.get(INDEX_FILE)
  if (indexJson !== undefined && sha256Of(indexJson) !== description.indexJson) {
    problems.add(`${INDEX_FILE} is not the one the bundle was written with: it was altered`)
  }
  return description
}

interface Walked {
  mediaType: string
  held: number
  listed: number
  digests: string[]
}

interface Walker {
  lookup: Lookup
  problems: Problems
  description: BundleDescription | undefined
  walked: Map<string, Walked>
}

async function manifestAt(w: Walker, d: Descriptor, by: string): Promise<Manifest | undefined> {
  const blob = await w.lookup(d.digest)
  if (blob === undefined) return undefined
  if (blob.size !== d.size) {
    w.problems.add(`${by} gives ${d.digest} a size of ${d.size} bytes, but it has ${blob.size}`)
    return undefined
  }
  const manifest = parseManifest(await blob.read(), d.mediaType)
  if (manifest === undefined) w.problems.add(`${d.digest} (${by}) is not a manifest this imports (schema 2 or OCI)`)
  return manifest
}

/** A missing blob, said as precisely as the bundle allows. */
function missing(w: Walker, digest: string, by: string): void {
  const base = w.description?.base ?? []
  if (w.description?.omitted.includes(digest) === true && base.length > 0) {
    const from = base.map(
      (b) => `${b.source} (bundle ${b.id}${b.created === undefined ? '' : `, exported ${b.created}`})`,
    )
    w.problems.add(`${digest}, left out as its base holds it, is not in this cache: import ${from.join(' or ')} first`)
  } else {
    w.problems.add(`${by} references ${digest}, which is neither in the bundle nor in this cache`)
  }
}

/** One platform manifest: its config and layers must all be held, at their sizes. */
async function walkImage(w: Walker, d: Descriptor, by: string, digests: string[]): Promise<boolean> {
  const manifest = await manifestAt(w, d, by)
  if (manifest === undefined) return false
  if (manifest.kind !== 'image') {
    w.problems.add(`${d.digest} (${by}) is an index inside an index, which this does not import`)
    return false
  }
  digests.push(d.digest)
  for (const blob of [manifest.config, ...manifest.layers]) {
    const held = await w.lookup(blob.digest)
    if (held === undefined) missing(w, blob.digest, `manifest ${d.digest}`)
    else if (held.size !== blob.size) {
      w.problems.add(`${blob.digest} has ${held.size} bytes, its manifest says ${blob.size}`)
    } else digests.push(blob.digest)
  }
  return true
}

/**
 * An image from its root: an index's platforms that are held are checked whole; those
 * neither in the bundle nor in the cache were not carried (as a mirror caches an index
 * whose other platforms were never pulled) unless the bundle's description says it
 * carries them.
 */
async function walk(w: Walker, root: Descriptor, by: string): Promise<Walked> {
  const known = w.walked.get(root.digest)
  if (known !== undefined) return known
  const result: Walked = { mediaType: root.mediaType ?? '', held: 0, listed: 1, digests: [] }
  w.walked.set(root.digest, result)
  const manifest = await manifestAt(w, root, by)
  if (manifest !== undefined) result.mediaType = manifest.mediaType
  if (manifest?.kind === 'image') {
    if (await walkImage(w, root, by, result.digests)) result.held = 1
  } else if (manifest?.kind === 'index') {
    result.digests.push(root.digest)
    result.listed = manifest.manifests.length
    for (const child of manifest.manifests) {
      const listed = w.description?.contents.includes(child.digest) === true
      if ((await w.lookup(child.digest)) === undefined && !listed) continue
      if (await walkImage(w, child, `index ${root.digest}`, result.digests)) result.held++
    }
  }
  return result
}

function nameEntry(
  d: Descriptor,
  upstreams: readonly ImageUpstream[],
  problems: Problems,
): { ref?: ImageRef; name?: string } {
  const name = entryName(d.annotations)
  if (name === undefined) return {}
  try {
    const ref = resolveImage(name, upstreams)
    if (ref.digest !== undefined && ref.digest !== d.digest) problems.add(`${name} is listed for ${d.digest}`)
    return { ref, name: imageName(ref) }
  } catch (e) {
    problems.add(`${INDEX_FILE} names ${name}: ${messageOf(e)}`)
    return {}
  }
}

/**
 * Checks a received bundle before anything of it is committed: the layout files, the
 * description of ours, and every image index.json names, walked to its last layer, each
 * piece held by the bundle or the cache at the size its parent gives. Any problem refuses
 * the bundle, with every problem found (the first few) in one message.
 */
export async function checkBundle(
  files: Map<string, Buffer>,
  lookup: Lookup,
  upstreams: readonly ImageUpstream[],
): Promise<CheckedBundle> {
  const problems = new Problems()
  const index = layoutFiles(files, problems)
  const description = await described(files, lookup, problems)
  const w: Walker = { lookup, problems, description, walked: new Map() }
  const images: CheckedImage[] = []
  for (const d of index?.manifests ?? []) {
    const { ref, name } = nameEntry(d, upstreams, problems)
    const by = name ?? `${INDEX_FILE} entry ${d.digest}`
    if ((await lookup(d.digest)) === undefined) {
      if (description?.omitted.includes(d.digest) === true) missing(w, d.digest, by)
      else problems.add(`${INDEX_FILE} names ${by}, which the bundle does not hold`)
      continue
    }
    const walked = await walk(w, d, by)
    const facts = description?.images.find((i) => i.name === name && i.digest === d.digest)
    images.push({ ref, name, digest: d.digest, size: d.size, facts, ...walked })
  }
  for (const digest of description?.contents ?? []) {
    if ((await lookup(digest)) === undefined) missing(w, digest, 'the bundle')
  }
  if (index !== undefined && index.manifests.length === 0) problems.add(`${INDEX_FILE} names no image`)
  problems.throwIfAny()
  return { images, description }
}
