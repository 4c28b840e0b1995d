import { createHash } from 'node:crypto'
import { z } from 'zod'
import { tryParseDigest } from '../oci/digest.js'
import { mediaTypes } from '../oci/media-types.js'

/**
 * A bundle is a standard OCI image layout in a tar: `oci-layout`, `index.json` with one
 * entry per image name, `blobs/sha256/…`. Ours adds what makes it checkable as a whole
 * and carries the mirror's facts: a small `registry-mirror.json` naming a blob (the
 * bundle description) by its digest. The description holds the sha256 of index.json
 * and the images' facts; being content-addressed, it cannot change unnoticed, so no
 * byte of the bundle can. Other tools ignore both.
 */

export const OCI_LAYOUT_FILE = 'oci-layout'
export const INDEX_FILE = 'index.json'
export const MARKER_FILE = 'registry-mirror.json'
export const OCI_LAYOUT = { imageLayoutVersion: '1.0.0' }

/** The annotation the OCI image layout names images by. */
export const REF_NAME = 'org.opencontainers.image.ref.name'
/** The one containerd (and `docker save` since Docker 25) names images by. */
export const CONTAINERD_NAME = 'io.containerd.image.name'

export const DESCRIPTION_MEDIA_TYPE = 'application/vnd.registry-mirror.bundle.v1+json'

const digestText = z.string().refine((d) => tryParseDigest(d) !== undefined, 'not a digest')

export const markerSchema = z.object({ bundle: digestText, mediaType: z.literal(DESCRIPTION_MEDIA_TYPE) }).strict()

export const ociLayoutSchema = z.object({ imageLayoutVersion: z.string() })

export const indexJsonSchema = z.object({
  schemaVersion: z.literal(2),
  manifests: z.array(
    z.object({
      mediaType: z.string().optional(),
      digest: digestText,
      size: z.number().int().nonnegative(),
      annotations: z.record(z.string(), z.string()).optional(),
    }),
  ),
})
export type IndexJson = z.infer<typeof indexJsonSchema>

/** The facts the exporting mirror had on an image, so the importing one can weigh them. */
export const bundledImageSchema = z.object({
  /** `docker.io/library/alpine:3.19`, as in index.json. */
  name: z.string(),
  digest: digestText,
  /** When the upstream last confirmed that the tag names this digest. */
  tagCheckedAt: z.number().optional(),
  /** When the upstream last said the repository is public. */
  verdictCheckedAt: z.number().optional(),
})
export type BundledImage = z.infer<typeof bundledImageSchema>

export const baseSchema = z.object({
  /** The base's identity: the sha256 of its digest list (see digestListText). */
  id: digestText,
  /** The file it was read from, for the operator. */
  source: z.string(),
  created: z.string().optional(),
})
export type BundleBase = z.infer<typeof baseSchema>

export const descriptionSchema = z
  .object({
    registryMirrorBundle: z.literal(1),
    created: z.string(),
    /** sha256 of index.json as written. */
    indexJson: digestText,
    images: z.array(bundledImageSchema),
    /** Every blob the images consist of, carried or left out: what a site holds after import. */
    contents: z.array(digestText),
    /** Bundles this one is an increment on; empty for a full bundle. */
    base: z.array(baseSchema),
    /** Blobs of `contents` left out because a base holds them. */
    omitted: z.array(digestText),
  })
  .strict()
export type BundleDescription = z.infer<typeof descriptionSchema>

export const sha256Of = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

/** The path of a blob in the layout, and back. */
export const blobEntryName = (digest: string): string => `blobs/${digest.replace(':', '/')}`

export function digestOfEntry(name: string): string | undefined {
  const match = /^(?:\.\/)?blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name)
  return match === null ? undefined : tryParseDigest(`${match[1]}:${match[2]}`)?.value
}

/**
 * A digest list as `export --digests-out` writes it and `--base-list` reads it: sorted,
 * one a line. Its sha256 is the identity of the bundle it describes.
 */
export function digestListText(digests: Iterable<string>): string {
  const sorted = [...new Set(digests)].sort()
  return sorted.map((d) => `${d}\n`).join('')
}

export const indexMediaType = mediaTypes.ociIndex
