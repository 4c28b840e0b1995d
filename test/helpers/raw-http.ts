import { connect } from 'node:net'

export interface RawResponse {
  status: number
  /** Header names in lower case; a repeated header's values joined with `, `. */
  headers: Record<string, string>
  body: Buffer
}

export interface RawExchange {
  /** The answers, in order, as far as they were complete. */
  responses: RawResponse[]
  /** Bytes after the last complete answer (a truncated one). */
  rest: Buffer
  /** How the exchange ended: the server closed, or the deadline came first. */
  ended: 'closed' | 'timeout'
}

export interface RawOptions {
  /** Half-closes the client's side once the request is written (`shutdown(SHUT_WR)`). */
  halfClose?: boolean
  /** Gives up after this long; `ended` then says `timeout`. */
  timeoutMs?: number
  /** Answers to these requests (by position) have no body whatever they announce: HEAD. */
  bodiless?: (index: number) => boolean
}

/**
 * Sends bytes exactly as given over a fresh connection, bypassing any client-side
 * normalisation, and reads until the server closes (or the deadline).
 */
export async function rawExchange(
  url: string,
  request: string | Buffer,
  options: RawOptions = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(url)
  const chunks: Buffer[] = []
  const ended = await new Promise<'closed' | 'timeout'>((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(request)
      if (options.halfClose === true) socket.end()
    })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('timeout')
    }, options.timeoutMs ?? 10_000)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    // A reset after the answer still ends the exchange; what arrived is what counts.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve('closed')
    })
  })
  return { ...parseResponses(Buffer.concat(chunks), options.bodiless), ended }
}

/** One GET of a request target as it is, on a connection of its own. */
export async function rawGet(url: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const lines = Object.entries({ host: new URL(url).host, ...headers, connection: 'close' }).map(
    ([name, value]) => `${name}: ${value}\r\n`,
  )
  const { responses } = await rawExchange(url, `GET ${target} HTTP/1.1\r\n${lines.join('')}\r\n`)
  const response = responses[0]
  if (response === undefined) throw new Error(`no answer to GET ${target.slice(0, 80)}`)
  return response
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const [statusLine = '', ...lines] = text.split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { status, headers }
}

/** A chunked body's bytes and where it ends, or undefined when it is not all there. */
function dechunk(data: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = []
  let at = start
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at)
    if (lineEnd < 0) return undefined
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
    if (!Number.isFinite(size)) return undefined
    if (size === 0) {
      const trailerEnd = data.indexOf('\r\n\r\n', lineEnd)
      return trailerEnd < 0 ? undefined : { body: Buffer.concat(parts), end: trailerEnd + 4 }
    }
    if (data.length < lineEnd + 2 + size + 2) return undefined
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
}

/** Splits what a server sent into its complete answers; 1xx interim answers are skipped. */
export function parseResponses(
  data: Buffer,
  bodiless: (index: number) => boolean = () => false,
): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = []
  let at = 0
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at)
    if (headEnd < 0) break
    const { status, headers } = parseHead(data.subarray(at, headEnd).toString('latin1'))
    const start = headEnd + 4
    if (status >= 100 && status < 200) {
      at = start
      continue
    }
    let end: number
    let body: Buffer
    if (bodiless(responses.length) || status === 204 || status === 304) {
      end = start
      body = Buffer.alloc(0)
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunked = dechunk(data, start)
      if (chunked === undefined) break
      ;({ body, end } = chunked)
    } else if (headers['content-length'] !== undefined) {
      end = start + Number(headers['content-length'])
      if (end > data.length) break
      body = data.subarray(start, end)
    } else {
      end = data.length
      body = data.subarray(start)
    }
    responses.push({ status, headers, body })
    at = end
  }
  return { responses, rest: data.subarray(at) }
}
