import { createHash } from 'node:crypto'
import { request, type Dispatcher } from 'undici'

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** A raw HTTP request with the body read whole. */
export async function http(
  url: string,
  options: { method?: Dispatcher.HttpMethod; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  const response = await request(url, { method: options.method ?? 'GET', headers: options.headers, body: options.body })
  const body = Buffer.from(await response.body.arrayBuffer())
  return { status: response.statusCode, headers: response.headers, body }
}

export async function json(url: string, headers?: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const result = await http(url, { headers })
  return { status: result.status, body: JSON.parse(result.body.toString()) }
}

export function sha256(data: Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex')
}

/**
 * Reads a body to the end, or until the transfer fails. A failed transfer is what a client
 * sees when the mirror cuts the connection: it never looks like a complete download.
 */
export async function download(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: HttpResult['headers']; bytes: number; digest: string; error?: Error }> {
  const response = await request(url, { headers })
  const hash = createHash('sha256')
  let bytes = 0
  try {
    for await (const chunk of response.body) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).length
    }
  } catch (e) {
    return { status: response.statusCode, headers: response.headers, bytes, digest: '', error: e as Error }
  }
  return { status: response.statusCode, headers: response.headers, bytes, digest: 'sha256:' + hash.digest('hex') }
}
