import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { Client } from 'undici'
import type { z } from 'zod'
import { OperatorError } from '../errors.js'
import type { ImportReport } from '../transfer/import.js'
import type { PrefetchEvent, PrefetchOutcome, PrefetchResult } from '../transfer/prefetch.js'
import {
  errorResponseSchema,
  importResponseSchema,
  prefetchLineSchema,
  type PrefetchRequestBody,
} from './control-protocol.js'

/** The command's end of the control socket: see control-protocol.ts. */
async function post(
  socket: string,
  path: string,
  body: string | Readable,
  contentType: string,
): Promise<{ status: number; body: Readable & AsyncIterable<Buffer> }> {
  // No timeouts: a prefetch of large images streams for as long as it takes.
  const client = new Client('http://localhost', { socketPath: socket, headersTimeout: 0, bodyTimeout: 0 })
  try {
    const res = await client.request({ method: 'POST', path, body, headers: { 'content-type': contentType } })
    res.body.once('close', () => {
      void client.close()
    })
    return { status: res.statusCode, body: res.body }
  } catch (e) {
    await client.close()
    const code = (e as NodeJS.ErrnoException).code ?? ''
    throw new OperatorError(`the mirror serving this cache dir does not answer on ${socket} (${code || String(e)})`, {
      cause: e,
    })
  }
}

function parsed<T>(schema: z.ZodType<T>, text: string): T {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  const result = schema.safeParse(json)
  if (!result.success) throw new Error(`unexpected answer on the control socket: ${text.slice(0, 200)}`)
  return result.data
}

async function refusal(body: AsyncIterable<Buffer>): Promise<OperatorError> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk)
  return new OperatorError(parsed(errorResponseSchema, Buffer.concat(chunks).toString('utf8')).error)
}

/** Hands a prefetch to the serving mirror, telling its events as they come. */
export async function prefetchThere(
  socket: string,
  request: PrefetchRequestBody,
  emit: (event: PrefetchEvent) => void,
): Promise<PrefetchOutcome> {
  const res = await post(socket, '/prefetch', JSON.stringify(request), 'application/json')
  if (res.status !== 200) throw await refusal(res.body)
  const results: PrefetchResult[] = []
  for await (const line of createInterface({ input: res.body, crlfDelay: Infinity })) {
    const event = parsed(prefetchLineSchema, line)
    if (event.type === 'end') return { results, failed: event.failed }
    if (event.type === 'done') results.push(event.result)
    emit(event)
  }
  throw new OperatorError('the mirror serving this cache dir stopped before the prefetch ended')
}

/** Hands an import to the serving mirror: a tar's bytes, or a layout directory's path. */
export async function importThere(
  socket: string,
  source: { kind: 'tar'; stream: Readable } | { kind: 'dir'; path: string },
): Promise<ImportReport> {
  const res =
    source.kind === 'tar'
      ? await post(socket, '/import', source.stream, 'application/x-tar')
      : await post(socket, '/import', JSON.stringify({ dir: resolve(source.path) }), 'application/json')
  if (res.status !== 200) throw await refusal(res.body)
  const chunks: Buffer[] = []
  for await (const chunk of res.body) chunks.push(chunk)
  return parsed(importResponseSchema, Buffer.concat(chunks).toString('utf8')).report
}
