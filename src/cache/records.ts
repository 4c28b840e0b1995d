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
