import t from 'tap'
import { Http1ProtocolError } from '../../src/upstream/http1/errors.js'
import { MAX_HEAD_BYTES, readHead, type HeadRead } from '../../src/upstream/http1/head-parser.js'

/** A response head from its lines, each ended by CRLF, then the blank line and `body`. */
function head(lines: string[], body = ''): string {
  return `${lines.map((line) => `${line}\r\n`).join('')}\r\n${body}`
}

const OK = 'HTTP/1.1 200 OK'
const CL2 = 'Content-Length: 2'

/** What a read must show: `pattern` is matched against its result. */
type Expected = { read: Record<string, unknown> } | { throws: RegExp }

function check(name: string, received: string, expected: Expected) {
  t.test(name, async (t) => {
    if ('throws' in expected) {
      t.throws(() => readHead(received), Http1ProtocolError)
      t.throws(() => readHead(received), expected.throws)
    } else t.match(readHead(received), expected.read)
  })
}

const framed = (length: number, extra: Record<string, unknown> = {}) => ({
  read: { kind: 'head', head: { framing: { kind: 'length', length }, ...extra } },
})
const unsupported = (reason: string) => ({ read: { kind: 'unsupported', reason } })
const unframed = (reason: string) => ({ read: { kind: 'head', head: { framing: { kind: 'unsupported', reason } } } })

// Heads this client reads itself.
check('a plain 200', head([OK, CL2], 'ok'), {
  read: { kind: 'head', head: { status: 200, headers: { 'content-length': '2' }, keepAlive: true }, bodyOffset: 38 },
})
check('no reason phrase', head(['HTTP/1.1 200', CL2]), framed(2, { status: 200 }))
check('an empty reason phrase', head(['HTTP/1.1 200 ', CL2]), framed(2))
check('a reason phrase with obs-text', head(['HTTP/1.1 200 \xe9t\xe9', CL2]), framed(2))
check('HTTP/1.0', head(['HTTP/1.0 200 OK', CL2]), framed(2, { keepAlive: false }))
check(
  'HTTP/1.0 with keep-alive',
  head(['HTTP/1.0 200 OK', CL2, 'Connection: Keep-Alive']),
  framed(2, { keepAlive: true }),
)
check('HTTP/1.1 with close', head([OK, CL2, 'Connection: close']), framed(2, { keepAlive: false }))
check('close among other options', head([OK, CL2, 'Connection: te, Close']), framed(2, { keepAlive: false }))
check('an option that only contains close', head([OK, CL2, 'Connection: x-closed']), framed(2, { keepAlive: true }))
check('a status above 599', head(['HTTP/1.1 600 Odd', CL2]), framed(2, { status: 600 }))
check(
  'names in any case, values without OWS',
  head([OK, 'X-Thing:\t a b \t', CL2]),
  framed(2, { headers: { 'x-thing': 'a b' } }),
)
check('an empty value', head([OK, 'X-Empty:', CL2]), framed(2, { headers: { 'x-empty': '' } }))
check('obs-text in a value', head([OK, 'X-A: caf\xe9', CL2]), framed(2, { headers: { 'x-a': 'caf\xe9' } }))
check(
  'repeated fields stay apart',
  head([OK, 'Set-Cookie: a', 'Set-Cookie: b', CL2]),
  framed(2, { headers: { 'set-cookie': ['a', 'b'] } }),
)
check('Content-Length with leading zeros', head([OK, 'Content-Length: 002']), framed(2))
check('Content-Length with trailing whitespace', head([OK, 'Content-Length: 2  ']), framed(2))
check('204 has no body, whatever its Content-Length', head(['HTTP/1.1 204 No Content', 'Content-Length: 5']), framed(0))
check(
  '304 has no body, whatever its Content-Length',
  head(['HTTP/1.1 304 Not Modified', 'Content-Length: 5']),
  framed(0),
)
check('204 without Content-Length', head(['HTTP/1.1 204 No Content']), framed(0))
check('a head split on the blank line, ending now', `HTTP/1.1 200 OK\r\n${CL2}\r\n\r\n`, framed(2))

// Heads whose body this client does not frame: undici reads them.
check('chunked', head([OK, 'Transfer-Encoding: chunked']), unframed('framing'))
check('no Content-Length (read to close)', head([OK]), unframed('framing'))
check(
  'Content-Length and Transfer-Encoding together',
  head([OK, CL2, 'Transfer-Encoding: chunked']),
  unframed('framing'),
)
check('Transfer-Encoding in HTTP/1.0', head(['HTTP/1.0 200 OK', 'Transfer-Encoding: chunked']), unframed('framing'))
check('Transfer-Encoding: identity with a length', head([OK, 'Transfer-Encoding: identity', CL2]), unframed('framing'))
check('two equal Content-Lengths', head([OK, CL2, CL2]), unframed('framing'))
check('conflicting Content-Lengths', head([OK, CL2, 'Content-Length: 3']), unframed('framing'))
check('a Content-Length list', head([OK, 'Content-Length: 2, 2']), unframed('framing'))
check('a Content-Length with a non-digit', head([OK, 'Content-Length: 2x']), unframed('framing'))
check('a negative Content-Length', head([OK, 'Content-Length: -2']), unframed('framing'))
check('a Content-Length with a sign', head([OK, 'Content-Length: +2']), unframed('framing'))
check('an empty Content-Length', head([OK, 'Content-Length:']), unframed('framing'))
check('a Content-Length with inner space', head([OK, 'Content-Length: 1 2']), unframed('framing'))
check('a Content-Length past 2^53', head([OK, 'Content-Length: 99999999999999999999999']), unframed('framing'))
check('100 Continue', head(['HTTP/1.1 100 Continue'], head([OK, CL2], 'ok')), unframed('informational'))
check(
  '103 Early Hints',
  head(['HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload']),
  unframed('informational'),
)
check(
  '101 Switching Protocols',
  head(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket']),
  unframed('informational'),
)
check('a status below 100', head(['HTTP/1.1 099 Odd', CL2]), unframed('informational'))
check('a redirect without a length', head(['HTTP/1.1 307 Temporary Redirect', 'Location: /x']), unframed('framing'))

// Heads left whole to undici, which judges them by its own rules (RFC 9112).
check('obs-fold with a space', head([OK, 'X-Long: one', ' two', CL2]), unsupported('folded-head'))
check('obs-fold with a tab', head([OK, 'X-Long: one', '\ttwo', CL2]), unsupported('folded-head'))
check('whitespace before the first field (§2.2)', head([OK, ' X-A: b', CL2]), unsupported('folded-head'))
check('a space between name and colon (§5.1)', head([OK, 'X-A : b', CL2]), unsupported('invalid-head'))
check('a tab between name and colon (§5.1)', head([OK, 'X-A\t: b', CL2]), unsupported('invalid-head'))
check('a space before the colon of Content-Length', head([OK, 'Content-Length : 2']), unsupported('invalid-head'))
check('a name with a parenthesis', head([OK, 'X(A): b', CL2]), unsupported('invalid-head'))
check('a name with an at sign', head([OK, 'X@A: b', CL2]), unsupported('invalid-head'))
check('a name with a quote', head([OK, 'X"A: b', CL2]), unsupported('invalid-head'))
check('a name with a slash', head([OK, 'X/A: b', CL2]), unsupported('invalid-head'))
check('a name with a non-ASCII byte', head([OK, 'X\xe9: b', CL2]), unsupported('invalid-head'))
check('a name with a NUL', head([OK, 'X\0A: b', CL2]), unsupported('invalid-head'))
check('a NUL in a value (RFC 9110 §5.5)', head([OK, 'X-A: b\0c', CL2]), unsupported('invalid-head'))
check('a control character in a value', head([OK, 'X-A: b\x01c', CL2]), unsupported('invalid-head'))
check('DEL in a value', head([OK, 'X-A: b\x7fc', CL2]), unsupported('invalid-head'))
check('a bare CR in a value', head([OK, 'X-A: b\rc', CL2]), unsupported('invalid-head'))
check('bare LF line ends (§2.2)', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', unsupported('invalid-head'))
check('one bare LF among CRLFs', `HTTP/1.1 200 OK\r\n${CL2}\nX-A: b\r\n\r\nok`, unsupported('invalid-head'))
check('a bare LF before the blank line', `HTTP/1.1 200 OK\r\n${CL2}\n\r\nok`, unsupported('invalid-head'))
check('a blank line of a bare LF', `HTTP/1.1 200 OK\r\n${CL2}\r\n\nok`, unsupported('invalid-head'))

// Heads no client can read: errors.
check('a version other than 1.x', head(['HTTP/9 200 Whatever']), { throws: /malformed status line/ })
check('HTTP/2 in a status line', head(['HTTP/2 200 OK', CL2]), { throws: /malformed status line/ })
check('HTTP/1.2', head(['HTTP/1.2 200 OK', CL2]), { throws: /malformed status line/ })
check('a lower-case protocol name', head(['http/1.1 200 OK', CL2]), { throws: /malformed status line/ })
check('a two-digit status', head(['HTTP/1.1 20 OK', CL2]), { throws: /malformed status line/ })
check('a four-digit status', head(['HTTP/1.1 2000 OK', CL2]), { throws: /malformed status line/ })
check('two spaces before the status', head(['HTTP/1.1  200 OK', CL2]), { throws: /malformed status line/ })
check('no status line at all', head([CL2]), { throws: /malformed status line/ })
check('an empty line before the status line', `\r\n${head([OK, CL2])}`, { throws: /malformed status line/ })
check('a header line without a colon', head([OK, 'broken', CL2]), { throws: /malformed header line/ })
check('a header line with an empty name', head([OK, ': b', CL2]), { throws: /malformed header line/ })
check('a head past the limit, unfinished', `${OK}\r\nX-A: ${'a'.repeat(MAX_HEAD_BYTES)}`, { throws: /too large/ })
check('a head past the limit, finished', head([OK, `X-A: ${'a'.repeat(MAX_HEAD_BYTES)}`, CL2]), { throws: /too large/ })

t.test('a head arrives in pieces: incomplete until its blank line', async (t) => {
  const whole = head([OK, CL2], 'ok')
  const reads: HeadRead['kind'][] = []
  for (let end = 1; end <= whole.length; end++) reads.push(readHead(whole.slice(0, end)).kind)
  const first = whole.indexOf('\r\n\r\n') + 4
  t.ok(
    reads.slice(0, first - 1).every((kind) => kind === 'incomplete'),
    'before the blank line',
  )
  t.ok(
    reads.slice(first - 1).every((kind) => kind === 'head'),
    'from the blank line on',
  )
  t.match(readHead(whole), { bodyOffset: first }, 'the body begins after the blank line')
})

t.test('a head just under the limit is read', async (t) => {
  const filler = 'a'.repeat(MAX_HEAD_BYTES - 64)
  t.match(readHead(head([OK, `X-A: ${filler}`, CL2])), { kind: 'head' })
})
