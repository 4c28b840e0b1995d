import { z } from 'zod'
import { parseTagKeyString, type Pin, type TagRecord, type Verdict } from './cache-index.js'

/**
 * The schemas of what the index writes and later reads back (from its journals, from
 * Redis): the bytes may have been written by another version, cut by a crash or edited
 * by hand, so they are checked, never cast. One schema per record type, used by every
 * reader; a record that fails it is treated as absent.
 */

export const tagRecordSchema = z.object({
  digest: z.string(),
  mediaType: z.string(),
  size: z.number(),
  checkedAt: z.number(),
}) satisfies z.ZodType<TagRecord>

export const verdictSchema = z.object({
  isPublic: z.boolean(),
  checkedAt: z.number(),
}) satisfies z.ZodType<Verdict>

/** The digests of one pin. */
export const pinDigestsSchema = z.array(z.string()) satisfies z.ZodType<Pin['digests']>

/** A tag key as tagKeyString writes it. */
export const tagKeyTextSchema = z.string().refine((key) => parseTagKeyString(key) !== undefined)

/** What a journal's lines hold: keys of one form, records of one type. */
export interface JournalSchema<T> {
  key: z.ZodType<string>
  record: z.ZodType<T>
}

/** The embedded index's journals: tag records by tag key, verdicts by `upstream repo`, pins by image. */
export const TAG_JOURNAL: JournalSchema<TagRecord> = { key: tagKeyTextSchema, record: tagRecordSchema }
export const VERDICT_JOURNAL: JournalSchema<Verdict> = { key: z.string(), record: verdictSchema }
export const PIN_JOURNAL: JournalSchema<string[]> = { key: z.string(), record: pinDigestsSchema }

const DAY_MS = 24 * 60 * 60 * 1000

/**
 * A tag mapping or a public verdict nobody asked for in this long is forgotten: asking
 * again costs one upstream round trip, and a month covers the images a site pulls for
 * its monthly jobs. Both indexes apply it (Redis as an EXPIRE refreshed on use).
 */
export const UNUSED_TTL_MS = 30 * DAY_MS
/**
 * How many tag mappings and public verdicts are kept at most, the least recently used
 * going first: 100,000 of each is some 40 MB in memory, and far more distinct tags and
 * repositories than a site pulls in a month.
 */
export const MAX_TAGS = 100_000
export const MAX_PUBLIC_VERDICTS = 100_000
/**
 * Verdicts that a repository is private or absent are bounded apart, tighter: anyone can
 * ask for random names, and each such name leaves one. A day unused (the verdict TTL's
 * default) and 10,000 of them keep real private repositories in use known.
 */
export const MAX_NEGATIVE_VERDICTS = 10_000
export const NEGATIVE_UNUSED_TTL_MS = DAY_MS

export const TAG_BOUND = { max: MAX_TAGS, unusedTtlMs: UNUSED_TTL_MS }
/** Public verdicts, then negative ones: see verdictClass. */
export const VERDICT_BOUNDS = [
  { max: MAX_PUBLIC_VERDICTS, unusedTtlMs: UNUSED_TTL_MS },
  { max: MAX_NEGATIVE_VERDICTS, unusedTtlMs: NEGATIVE_UNUSED_TTL_MS },
]
export const verdictClass = (verdict: Verdict): number => (verdict.isPublic ? 0 : 1)

/**
 * JSON text read back, checked against `schema`: undefined when there is none, or when it
 * is not JSON or does not fit (then `onInvalid` hears why).
 */
export function parseRecord<T>(
  schema: z.ZodType<T>,
  text: string | null | undefined,
  onInvalid: (reason: string) => void = () => {},
): T | undefined {
  if (text === null || text === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    onInvalid('not JSON')
    return undefined
  }
  const result = schema.safeParse(value)
  if (result.success) return result.data
  onInvalid(z.prettifyError(result.error))
  return undefined
}
