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
  /** A head this client leaves to the general one, which judges it by its own rules. */
  | { kind: 'unsupported'; reason: 'folded-head' | 'invalid-head' }

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/
/** The blank line that ends a head, whether its lines end in CRLF or a bare LF. */
const HEAD_END = /\n\r?\n/
/** A CR or LF that is not part of a CRLF. */
const BARE_CR_OR_LF = /\r(?!\n)|(?<!\r)\n/
/** RFC 9110 §5.1: a field name is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** RFC 9110 §5.6.3: the optional whitespace around a field value is SP and HTAB only. */
const OWS = /^[ \t]+|[ \t]+$/g

/** RFC 9110 §5.5: a field value holds no control character but HTAB. */
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true
  }
  return false
}

/** The body's framing (RFC 9112 §6.3): Content-Length alone, or none this client reads. */
export function framingOf(status: number, headers: IncomingHttpHeaders): Framing {
  if (status < 200) return { kind: 'unsupported', reason: 'informational' }
  // With Transfer-Encoding (in 1.0 too, where it makes the framing faulty) undici decides.
  if (headers['transfer-encoding'] !== undefined) return { kind: 'unsupported', reason: 'framing' }
  if (status === 204 || status === 304) return { kind: 'length', length: 0 }
  // Several values, even equal ones, are left to undici: RFC 9112 §6.3 lets a recipient reject them.
  const value = headers['content-length']
  const length = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined
  if (length === undefined || !Number.isSafeInteger(length)) return { kind: 'unsupported', reason: 'framing' }
  return { kind: 'length', length }
}

/** Connection: close ends a 1.1 connection after this answer; a 1.0 one needs keep-alive to stay. */
function keepsAlive(minor: string, headers: IncomingHttpHeaders): boolean {
  const value = headers.connection ?? ''
  const options = (Array.isArray(value) ? value.join(',') : value).split(',').map((o) => o.trim().toLowerCase())
  return minor === '1' ? !options.includes('close') : options.includes('keep-alive')
}

/**
 * The header lines of a head, or why they are not read here. Lines RFC 9112 says to
 * reject, or to fix up (§5.2 obs-fold), go to the general client: it rejects them.
 */
function parseFields(lines: string[]): IncomingHttpHeaders | 'folded-head' | 'invalid-head' {
  const headers: Record<string, string | string[]> = {}
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) return 'folded-head'
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Http1ProtocolError('malformed header line from upstream')
    const name = line.slice(0, colon)
    const value = line.slice(colon + 1).replace(OWS, '')
    // §5.1: no whitespace between the name and the colon, nor anything else not a token.
    if (!TOKEN.test(name) || hasControl(value)) return 'invalid-head'
    const key = name.toLowerCase()
    const before = headers[key]
    headers[key] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value]
  }
  return headers
}

/**
 * Reads a response head from the bytes received so far (as latin1 text). Throws
 * Http1ProtocolError for a head no HTTP/1.1 client could read: too large, or without a
 * status line or a colon in a header line.
 */
export function readHead(received: string): HeadRead {
  const end = HEAD_END.exec(received)
  const bodyOffset = end === null ? undefined : end.index + end[0].length
  if ((bodyOffset ?? received.length) > MAX_HEAD_BYTES) {
    throw new Http1ProtocolError('upstream response head too large')
  }
  if (bodyOffset === undefined) return { kind: 'incomplete' }
  const text = received.slice(0, bodyOffset - 4)
  // §2.2 lets a recipient take a bare LF as a line's end; the general client does not.
  if (!received.startsWith('\r\n\r\n', bodyOffset - 4) || BARE_CR_OR_LF.test(text)) {
    return { kind: 'unsupported', reason: 'invalid-head' }
  }
  const lines = text.split('\r\n')
  const statusLine = STATUS_LINE.exec(lines[0] ?? '')
  if (statusLine === null) {
    throw new Http1ProtocolError(`malformed status line from upstream: ${lines[0]?.slice(0, 80)}`)
  }
  const headers = parseFields(lines.slice(1))
  if (typeof headers === 'string') return { kind: 'unsupported', reason: headers }
  const status = Number(statusLine[2])
  const head = { status, headers, keepAlive: keepsAlive(statusLine[1]!, headers), framing: framingOf(status, headers) }
  return { kind: 'head', head, bodyOffset }
}
