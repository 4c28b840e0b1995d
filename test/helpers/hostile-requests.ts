import {
  ACCEPTS,
  AUTHORIZATIONS,
  BAD_CHUNKS,
  CLIMBS,
  ESCAPES,
  KNOWN_METHODS,
  METHODS,
  ODD_HEADERS,
  QUERIES,
  RANGES,
  RAW_BYTES,
  TRAVERSALS,
} from './hostile-values.js'

/**
 * Malformed and hostile HTTP requests, drawn from a seeded PRNG so that a seed always
 * gives the same requests: a failure found with one reproduces with it.
 */

export interface Random {
  int(n: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function seeded(seed: number): Random {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  return { int, pick: (items) => items[int(items.length)]!, chance: (p) => next() < p }
}

/** Real paths on the mirror under test, for the requests to start from. */
export interface Targets {
  host: string
  manifests: string[]
  blobs: string[]
  /** Pings, tag lists, referrers, the catalog, uploads, /token, private and unknown names. */
  others: string[]
  /** Where an upload starts (forwarded upstream with its body). */
  upload: string
  /** Routes that read a query: the tag list, referrers, /token. */
  queried: string[]
  /** A private blob and the Authorization that may read it. */
  privateBlob: { path: string; authorization: string }
}

export interface HostileCase {
  category: string
  bytes: Buffer
  /** Well-formed requests in it, each of which must be answered (0: an answer or a close will do). */
  answers: number
  /** Positions of answers that carry no body whatever their headers say (to HEAD). */
  heads: number[]
  /** Half-closes once written, so that a server waiting for more sees the end instead. */
  halfClose: boolean
}

type Header = [string, string]

interface Spec {
  method?: string
  target: string
  headers?: Header[]
  body?: string
  version?: string
}

/** The request as text to send as latin1, so that any byte can be written. */
function build(host: string, spec: Spec, keepAlive = false): string {
  const own = new Set((spec.headers ?? []).map(([name]) => name.toLowerCase()))
  const defaults: Header[] = [
    ['Host', host],
    ['Connection', keepAlive ? 'keep-alive' : 'close'],
  ]
  const headers = [...defaults.filter(([name]) => !own.has(name.toLowerCase())), ...(spec.headers ?? [])]
  const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')
  return `${spec.method ?? 'GET'} ${spec.target} ${spec.version ?? 'HTTP/1.1'}\r\n${lines}\r\n${spec.body ?? ''}`
}

const printable = (headers: Header[]) => headers.every(([, value]) => /^[\x20-\x7e]*$/.test(value))

function insertAt(r: Random, text: string, piece: string): string {
  const at = 1 + r.int(Math.max(1, text.length - 1))
  return text.slice(0, at) + piece + text.slice(at)
}

function anyTarget(r: Random, t: Targets): string {
  return r.pick([...t.manifests, ...t.blobs, ...t.others])
}

interface Drawn {
  category: string
  spec: Spec
  /** Parseable HTTP whatever its content: it must be answered. */
  wellFormed: boolean
}

function encoding(r: Random, t: Targets): Drawn {
  const target = anyTarget(r, t)
  const escape = r.pick(ESCAPES)
  const where = r.int(3)
  const param = r.pick(['n', 'last', 'ns', 'digest', ''])
  const mutated =
    where === 0
      ? insertAt(r, target, escape)
      : where === 1
        ? `${target}${target.includes('?') ? '&' : '?'}${param}=${escape}`
        : target.replace(':', escape)
  return { category: 'encoding', spec: { target: mutated }, wellFormed: true }
}

function traversal(r: Random, t: Targets): Drawn {
  const segments = r.pick(t.manifests).split('/')
  segments.splice(2 + r.int(segments.length - 2), 0, r.pick(CLIMBS))
  const target = r.chance(0.5) ? r.pick(TRAVERSALS) : segments.join('/')
  return { category: 'traversal', spec: { target }, wellFormed: true }
}

function nul(r: Random, t: Targets): Drawn {
  const target = anyTarget(r, t)
  switch (r.int(4)) {
    case 0:
      return { category: 'nul', spec: { target: insertAt(r, target, '%00') }, wellFormed: true }
    case 1:
      return { category: 'nul', spec: { target: insertAt(r, target, '\u0000') }, wellFormed: false }
    case 2:
      return { category: 'nul', spec: { target, headers: [['X-Nul', 'a\u0000b']] }, wellFormed: false }
    default: {
      const body = 'a\u0000'.repeat(8)
      const headers: Header[] = [['Content-Length', String(body.length)]]
      return { category: 'nul', spec: { method: 'POST', target: t.upload, headers, body }, wellFormed: true }
    }
  }
}

function huge(r: Random, t: Targets): Drawn {
  const size = r.pick([256, 1000, 4000, 8000, 15000, 30000, 70000])
  const digest = `sha256:${'a'.repeat(64)}`
  const specs: Spec[] = [
    { target: `/v2/${'a'.repeat(size)}/manifests/1` },
    { target: `/v2/${'a/'.repeat(size >> 2)}x/blobs/${digest}` },
    { target: anyTarget(r, t), headers: [['X-Pad', 'p'.repeat(size)]] },
    { target: anyTarget(r, t), headers: Array.from({ length: size >> 4 }, (_, i): Header => [`X-H${i}`, 'v']) },
    {
      target: `${r.pick(t.manifests).replace(/\/[^/]+$/, '/')}${r.pick(['t'.repeat(size), `sha256:${'a'.repeat(size)}`])}`,
    },
    { target: `${r.pick(t.others)}${'&x=1'.repeat(size >> 3)}` },
  ]
  return { category: 'huge', spec: r.pick(specs), wellFormed: true }
}

function method(r: Random, t: Targets): Drawn {
  const name = r.pick(METHODS)
  const target = name === 'CONNECT' ? r.pick(['127.0.0.1:1', 'example.invalid:443', anyTarget(r, t)]) : anyTarget(r, t)
  const body = ['PATCH', 'PUT', 'POST'].includes(name) ? 'hello' : undefined
  const headers: Header[] = body === undefined ? [] : [['Content-Length', '5']]
  return { category: 'method', spec: { method: name, target, headers, body }, wellFormed: KNOWN_METHODS.has(name) }
}

/** One header with a bad value (sometimes twice), on the routes that read it. */
function header(r: Random, t: Targets): Drawn {
  const [name, values, targets] = r.pick<[string, readonly string[], readonly string[]]>([
    ['Range', RANGES, t.blobs],
    ['Range', RANGES, [t.privateBlob.path]],
    ['Accept', ACCEPTS, t.manifests],
    ['Authorization', AUTHORIZATIONS, [...t.manifests, ...t.blobs, ...t.others]],
  ])
  const headers: Header[] = [[name, r.pick(values)]]
  if (r.chance(0.2)) headers.push([name, r.pick(values)])
  const target = r.pick(targets)
  if (target === t.privateBlob.path) headers.push(['Authorization', t.privateBlob.authorization])
  const spec = { method: r.pick(['GET', 'GET', 'HEAD']), target, headers }
  return { category: name.toLowerCase(), spec, wellFormed: printable(headers) }
}

function oddities(r: Random, t: Targets): Drawn {
  if (r.chance(0.5)) {
    const target = `${r.pick(t.queried).split('?')[0]!}?${r.pick(QUERIES)}`
    return { category: 'query', spec: { method: r.pick(['GET', 'HEAD', 'POST']), target }, wellFormed: true }
  }
  const headers: Header[] = [r.pick(ODD_HEADERS)]
  return {
    category: 'header',
    spec: { method: r.pick(['GET', 'HEAD']), target: anyTarget(r, t), headers },
    wellFormed: true,
  }
}

const DRAWS = [encoding, traversal, nul, huge, method, header, header, oddities]
const RAW = (r: Random, t: Targets): Drawn => ({
  category: 'raw bytes',
  spec: { target: insertAt(r, anyTarget(r, t), r.pick(RAW_BYTES)) },
  wellFormed: false,
})

function malformed(bytes: string): HostileCase {
  return { category: 'framing', bytes: Buffer.from(bytes, 'latin1'), answers: 0, heads: [], halfClose: true }
}

function pipelined(r: Random, t: Targets): HostileCase {
  const count = 2 + r.int(3)
  const heads: number[] = []
  const requests = Array.from({ length: count }, (_, i) => {
    const method = r.chance(0.3) ? 'HEAD' : 'GET'
    if (method === 'HEAD') heads.push(i)
    return build(t.host, { method, target: anyTarget(r, t) }, i < count - 1)
  })
  const bytes = Buffer.from(requests.join(''), 'latin1')
  return { category: 'pipelined', bytes, answers: count, heads, halfClose: r.chance(0.5) }
}

/** Framing: lengths, chunks, versions, line endings and several requests on one connection. */
function framing(r: Random, t: Targets): HostileCase {
  const target = anyTarget(r, t)
  const upload = (headers: Header[], body: string) => build(t.host, { method: 'POST', target: t.upload, headers, body })
  const answered = (category: string, text: string, halfClose: boolean): HostileCase => ({
    category,
    bytes: Buffer.from(text, 'latin1'),
    answers: 1,
    heads: [],
    halfClose,
  })
  const encodings = ['chunked', 'gzip', 'chunked, chunked', ' chunked', 'xchunked']
  const full = build(t.host, { target })
  switch (r.int(11)) {
    case 0:
      return malformed(
        upload(
          [
            ['Content-Length', '5'],
            ['Content-Length', '6'],
          ],
          'hello!',
        ),
      )
    case 1:
      return malformed(
        upload(
          [
            ['Transfer-Encoding', 'chunked'],
            ['Content-Length', '5'],
          ],
          '5\r\nhello\r\n0\r\n\r\n',
        ),
      )
    case 2:
      return malformed(upload([['Transfer-Encoding', r.pick(encodings)]], r.pick(BAD_CHUNKS)))
    case 3:
      return pipelined(r, t)
    case 4:
      return malformed(full.slice(0, 1 + r.int(full.length - 2)))
    case 5:
      return malformed(
        r.pick([`GET ${target} HTTP/1.1\r\n\r\n`, `GET ${target}\r\n`, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n']),
      )
    case 6:
      return answered('framing', `GET ${target} HTTP/1.0\r\n\r\n`, true)
    case 7:
      return malformed(build(t.host, { target, version: r.pick(['HTTP/1.2', 'HTTP/9.9', 'HTTP/1.1 x', 'http/1.1']) }))
    case 8:
      return answered(
        'absolute-form',
        build(t.host, { target: `http://${r.pick([t.host, 'x.invalid'])}${target}` }),
        false,
      )
    case 9:
      return malformed(
        r.pick([
          `GET ${target} HTTP/1.1\r\nHost: ${t.host}\r\nX-A: b\r\n c\r\n\r\n`,
          `GET ${target} HTTP/1.1\r\nHost ${t.host}\r\n\r\n`,
          `GET ${target} HTTP/1.1\r\nHost : ${t.host}\r\n\r\n`,
          `GET ${target} HTTP/1.1\nHost: ${t.host}\nConnection: close\n\n`,
          `GET ${target} HTTP/1.1\r\nHost: ${t.host}\r\nHost: other\r\n\r\n`,
        ]),
      )
    default: {
      const expect = r.pick(['100-continue', 'foo', '100-continue, x'])
      return answered(
        'expect',
        upload(
          [
            ['Content-Length', '5'],
            ['Expect', expect],
          ],
          'hello',
        ),
        true,
      )
    }
  }
}

/** `count` hostile requests for the mirror at `targets.host`, the same for the same seed. */
export function hostileRequests(seed: number, count: number, targets: Targets): HostileCase[] {
  const r = seeded(seed)
  return Array.from({ length: count }, () => {
    if (r.chance(0.2)) return framing(r, targets)
    const { category, spec, wellFormed } = (r.chance(0.1) ? RAW : r.pick(DRAWS))(r, targets)
    // A client-chosen Connection header may keep the connection open: only the end tells.
    const keeps = spec.headers?.some(([name]) => name.toLowerCase() === 'connection') === true
    const halfClose = !wellFormed || keeps || r.chance(0.3)
    const heads = spec.method === 'HEAD' ? [0] : []
    const bytes = Buffer.from(build(targets.host, spec), 'latin1')
    return { category, bytes, answers: wellFormed ? 1 : 0, heads, halfClose }
  })
}
