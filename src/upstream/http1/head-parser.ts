import type { IncomingHttpHeaders } from 'node:http'
import { Http1ProtocolError } from './errors.js'

export const MAX_HEAD_BYTES = 64 * 1024

/** The parsed head, or undefined for one this client leaves to the general one (folded lines). */
export function parseHead(
  text: string,
): { status: number; headers: IncomingHttpHeaders; keepAlive: boolean } | undefined {
  const lines = text.split('\r\n')
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (statusLine === null) {
    throw new Http1ProtocolError(`malformed status line from upstream: ${lines[0]?.slice(0, 80)}`)
  }
  const headers: Record<string, string | string[]> = {}
  for (const line of lines.slice(1)) {
    if (line.startsWith(' ') || line.startsWith('\t')) return undefined
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Http1ProtocolError('malformed header line from upstream')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const before = headers[name]
    headers[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value]
  }
  const connection = String(headers.connection ?? '').toLowerCase()
  const keepAlive = statusLine[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive')
  return { status: Number(statusLine[2]), headers, keepAlive }
}

/** The body's length when it is framed by Content-Length alone, else undefined. */
export function framedLength(status: number, headers: IncomingHttpHeaders): number | undefined {
  if (headers['transfer-encoding'] !== undefined) return undefined
  if (status === 204 || status === 304) return 0
  const value = headers['content-length']
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined
}
