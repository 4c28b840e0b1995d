import type { IncomingHttpHeaders } from 'node:http'
import { Http1ProtocolError } from './errors.js'

/** The largest response head read; a longer one is an error (undici's own limit is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024

/** How the body after a head ends: after a Content-Length, or some way this client leaves to undici. */
export type Framing = { kind: 'length'; length: number } | { kind: 'unsupported'; reason: 'framing' | 'informational' }

export interface ResponseHead {
  status: number
  headers: IncomingHttpHeaders
  /** Whether the connection may carry another request once the body is read. */
  keepAlive: boolean
  framing: Framing
}

export type HeadRead =
  /** No blank line yet: wait for more bytes. */
  | { kind: 'incomplete' }
  /** The head, and where in the bytes received its body begins. */
  | { kind: 'head'; head: ResponseHead; bodyOffset: number }
  /** A head this client leaves to the general one. */
  | { kind: 'unsupported'; reason: 'folded-head' }

/** The body's framing (RFC 9112 §6.3): Content-Length alone, or none this client reads. */
export function framingOf(status: number, headers: IncomingHttpHeaders): Framing {
  if (status < 200) return { kind: 'unsupported', reason: 'informational' }
  if (headers['transfer-encoding'] !== undefined) return { kind: 'unsupported', reason: 'framing' }
  if (status === 204 || status === 304) return { kind: 'length', length: 0 }
  const value = headers['content-length']
  const length = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined
  return length === undefined ? { kind: 'unsupported', reason: 'framing' } : { kind: 'length', length }
}

/** Connection: close ends a 1.1 connection after this answer; a 1.0 one needs keep-alive to stay. */
function keepsAlive(minor: string, headers: IncomingHttpHeaders): boolean {
  const connection = String(headers.connection ?? '').toLowerCase()
  return minor === '1' ? !connection.includes('close') : connection.includes('keep-alive')
}

/** The header lines of a head, or why they are not read here. */
function parseFields(lines: string[]): IncomingHttpHeaders | 'folded-head' {
  const headers: Record<string, string | string[]> = {}
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) return 'folded-head'
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Http1ProtocolError('malformed header line from upstream')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const before = headers[name]
    headers[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value]
  }
  return headers
}

/**
 * Reads a response head from the bytes received so far (as latin1 text). Throws
 * Http1ProtocolError for a head no HTTP/1.1 client could read.
 */
export function readHead(received: string): HeadRead {
  const end = received.indexOf('\r\n\r\n')
  if (end < 0) {
    if (received.length > MAX_HEAD_BYTES) throw new Http1ProtocolError('upstream response head too large')
    return { kind: 'incomplete' }
  }
  const lines = received.slice(0, end).split('\r\n')
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (statusLine === null) {
    throw new Http1ProtocolError(`malformed status line from upstream: ${lines[0]?.slice(0, 80)}`)
  }
  const headers = parseFields(lines.slice(1))
  if (headers === 'folded-head') return { kind: 'unsupported', reason: headers }
  const status = Number(statusLine[2])
  const head = { status, headers, keepAlive: keepsAlive(statusLine[1]!, headers), framing: framingOf(status, headers) }
  return { kind: 'head', head, bodyOffset: end + 4 }
}
