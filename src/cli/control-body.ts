import type { Readable } from 'node:stream'
import type { z } from 'zod'
import { OperatorError } from '../errors.js'

/** Control requests are a few names and flags; a list of thousands of images fits. */
const MAX_JSON_BYTES = 4 * 1024 * 1024

/** A JSON body of the given shape, refused past its bound or when it is not that. */
export async function readJsonBody<T>(stream: Readable, schema: z.ZodType<T>): Promise<T> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    length += bytes.length
    if (length > MAX_JSON_BYTES) throw new OperatorError('control request too large')
    chunks.push(bytes)
  }
  let json: unknown
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new OperatorError('control request is not JSON')
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw new OperatorError(`control request not understood: ${parsed.error.issues[0]?.message}`)
  return parsed.data
}
