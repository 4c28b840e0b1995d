import { z } from 'zod'
import { tryParseDigest } from './digest.js'
import { mediaTypes } from './media-types.js'

/**
 * Manifests and indexes as the commands read them (prefetch, export, import, ls): what
 * they point at, checked, never cast. Schema 1 manifests (fsLayers) do not parse here:
 * they name layers without sizes, which nothing that carries images can verify.
 */

const digestText = z.string().refine((d) => tryParseDigest(d) !== undefined, 'not a digest')

export const platformSchema = z.object({
  os: z.string(),
  architecture: z.string(),
  variant: z.string().optional(),
})
export type Platform = z.infer<typeof platformSchema>

export const descriptorSchema = z.object({
  mediaType: z.string().optional(),
  digest: digestText,
  size: z.number().int().nonnegative(),
  platform: platformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
})
export type Descriptor = z.infer<typeof descriptorSchema>

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema.optional(),
  layers: z.array(descriptorSchema).optional(),
  manifests: z.array(descriptorSchema).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
})

/** An image manifest (config and layers) or an index of them (manifests). */
export type Manifest =
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] }
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }

const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
const INDEX_TYPES = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerList])

/**
 * Parses a manifest's bytes; `mediaType` is the type it was stored or described with,
 * used when the body names none. Undefined when it is no manifest this reads.
 */
export function parseManifest(body: Buffer, mediaType?: string): Manifest | undefined {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
  const parsed = manifestSchema.safeParse(json)
  if (!parsed.success) return undefined
  const m = parsed.data
  const type = m.mediaType ?? mediaType
  if (m.manifests !== undefined && (type === undefined || INDEX_TYPES.has(type))) {
    return { kind: 'index', mediaType: type ?? mediaTypes.ociIndex, manifests: m.manifests }
  }
  if (m.config !== undefined && m.manifests === undefined) {
    // Without a declared type, the config's says which family the manifest is of.
    const family = m.config.mediaType === DOCKER_CONFIG ? mediaTypes.dockerManifest : mediaTypes.ociManifest
    return { kind: 'image', mediaType: type ?? family, config: m.config, layers: m.layers ?? [] }
  }
  return undefined
}

/** A blob's type when its bytes are a manifest or an index, from the bytes alone. */
export function sniffManifestType(body: Buffer): string | undefined {
  const manifest = parseManifest(body)
  return manifest === undefined || !isManifestType(manifest.mediaType) ? undefined : manifest.mediaType
}

/** Whether a media type names a manifest or an index (as opposed to a config or a layer). */
export function isManifestType(mediaType: string | undefined): boolean {
  return (
    mediaType === mediaTypes.ociManifest ||
    mediaType === mediaTypes.ociIndex ||
    mediaType === mediaTypes.dockerManifest ||
    mediaType === mediaTypes.dockerList
  )
}

/** `linux/arm64/v8`. */
export function platformText(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((part) => part !== undefined && part !== '').join('/')
}
