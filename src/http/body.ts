import { UpstreamContentError } from '../errors.js'

/** Reads a small body whole, refusing one larger than `limit` (the rest is never read). */
export async function readLimited(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of body) {
    length += chunk.length
    if (length > limit) throw new UpstreamContentError(`upstream response larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Drops a body the mirror does not forward, so its connection goes back to the pool. */
export async function discard(body: { dump(): Promise<void> } | undefined): Promise<void> {
  await body?.dump().catch(() => {})
}

/** Content-Length as a number, or undefined when absent or malformed. */
export function contentLengthOf(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers['content-length']
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}
