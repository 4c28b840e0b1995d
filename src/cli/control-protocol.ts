import { join } from 'node:path'
import { z } from 'zod'
import { platformSchema } from '../oci/manifest.js'

/**
 * The control socket: how a command hands its work to the mirror serving its cache dir,
 * so that one process writes the index and a prefetch goes through the server's single
 * flight and metrics. HTTP on a Unix socket in the cache dir, reachable by its owner only.
 *
 * - `POST /prefetch`, a JSON PrefetchRequest: NDJSON, one PrefetchEvent a line, then an
 *   `end` line with the count of images that failed.
 * - `POST /import`, a bundle tar as the body, or JSON `{ "dir": path }` for a layout
 *   directory: JSON `{ report }`.
 * A request refused answers 4xx with JSON `{ error }`, one line for the operator.
 */
export const controlPath = (cacheDir: string): string => join(cacheDir, 'control.sock')

export const prefetchRequestSchema = z.object({
  /** Full names (`docker.io/library/alpine:3.19`): the server resolves them by its own upstreams. */
  images: z.array(z.string()).min(1),
  platforms: z.array(platformSchema).optional(),
  concurrency: z.number().int().min(1).max(64),
  pin: z.boolean(),
})
export type PrefetchRequestBody = z.infer<typeof prefetchRequestSchema>

export const importDirSchema = z.object({ dir: z.string().min(1) })

const resultSchema = z.object({
  image: z.string(),
  digest: z.string(),
  platforms: z.array(z.string()),
  size: z.number(),
  newBytes: z.number(),
  pinned: z.boolean(),
})

export const prefetchLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), image: z.string(), bytes: z.number(), cachedBytes: z.number() }),
  z.object({ type: z.literal('bytes'), image: z.string(), bytes: z.number() }),
  z.object({ type: z.literal('done'), result: resultSchema }),
  z.object({ type: z.literal('failed'), image: z.string(), message: z.string() }),
  z.object({ type: z.literal('end'), failed: z.number() }),
])

const counts = z.object({ blobs: z.number(), bytes: z.number() })
export const importResponseSchema = z.object({
  report: z.object({
    images: z.array(
      z.object({
        name: z.string().optional(),
        digest: z.string(),
        mediaType: z.string(),
        held: z.number(),
        listed: z.number(),
        tagMappings: z.number(),
      }),
    ),
    added: counts,
    present: counts,
    keptPrivate: z.array(z.string()),
  }),
})

export const errorResponseSchema = z.object({ error: z.string() })
