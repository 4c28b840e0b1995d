/**
 * The raw material of hostile requests: values a client should never send, or sends
 * only by mistake. Kept as plain tables, one line each, so that they read as lists.
 */

const b64 = (text: string) => Buffer.from(text).toString('base64')

/** Bad, overlong, surrogate and confusing percent-escapes, and encoded separators. */
// prettier-ignore
export const ESCAPES = [
  '%', '%Z', '%ZZ', '%G0', '%0', '%%', '%C0%AE', '%C0%AF', '%E0%80%AF', '%F0%80%80%AF', '%ED%A0%80', '%FF',
  '%FE%FF', '%2F', '%2f', '%2e', '%2E%2E', '%252F', '%00', '%5C', '%3A', '%3F', '%23', '%20', '+', '%E2%80%AE',
]

/** Bytes that have no place unencoded in a request target (latin1: each char is one byte). */
export const RAW_BYTES = ['\u00e9', '\u00ff', '\u00c3\u00a9', '\u0080', ' ', '\t', '"', '<', '`', '{', '|', '\\']

/** Segments that climb, repeat or hide a step. */
export const CLIMBS = ['..', '.', '%2e%2e', '..%2F', '..%5C', '.%2e', '', '...', '..;']

// prettier-ignore
export const TRAVERSALS = [
  '/v2/../', '/v2/../etc/passwd', '/v2/library/../private/alice/secret/manifests/1', '/v2/..%2F..%2Fetc/manifests/1',
  '/v2/library/small/..%2F..%2F_catalog', '/v2/%2e%2e/%2e%2e/x', '/v2/./library/small/manifests/1',
  '/v2//library/small/manifests/1', '/v2/library//small/manifests/1', '/v2/library/small/manifests/../manifests/1',
  '/v2/library\\..\\x/manifests/1', '/../v2/', '/./v2/', '//v2/', '/v2/library/small/blobs/uploads/../../../../_catalog',
  '/v2/..;/x', '/%2e%2e/v2/', '/v2/library/%2e%2e%2fprivate/manifests/1', '/v2/.../manifests/1', '/v2/%2e/manifests/1',
  '/V2/', '/v2//', '/v2/library/small/tags/list/..', '/v2/library/small/blobs/uploads/%2e%2e/%2e%2e/_catalog',
]

// prettier-ignore
export const METHODS = [
  'PROPFIND', 'TRACE', 'CONNECT', 'get', 'GeT', 'head', 'FOO', 'OPTIONS', 'PATCH', 'PUT', 'DELETE', 'POST', 'HEAD',
  'M-SEARCH', 'PURGE', 'MKCOL', 'LOCK', 'SEARCH', 'QUERY', 'BREW', 'G\tET', 'GET GET',
]

/** Methods Node's parser knows: a request with one of them is well-formed. */
// prettier-ignore
export const KNOWN_METHODS = new Set([
  'PROPFIND', 'TRACE', 'OPTIONS', 'PATCH', 'PUT', 'DELETE', 'POST', 'HEAD', 'M-SEARCH', 'PURGE', 'MKCOL', 'LOCK',
  'SEARCH', 'QUERY',
])

// prettier-ignore
export const RANGES = [
  'bytes=0-0,5-9', 'bytes=0-1,1-2,2-3', 'bytes=-0', 'bytes=-5', 'bytes=5-1', 'bytes=-1-2', 'bytes=99999999999999999999-',
  'bytes=0-99999999999999999999', 'bytes=18446744073709551616-', 'items=0-1', 'bytes=', 'bytes', '=0-1', 'bytes=a-b',
  'bytes=0x10-0x20', 'bytes= 0 - 1 ', 'bytes=0-1;x', 'BYTES=0-1', 'bytes=1e3-2e3', 'bytes=-', 'bytes=0-1, ',
  `bytes=${'0-1,'.repeat(2000)}0-1`, 'bytes=9007199254740993-9007199254740995', 'bytes=0-0', 'bytes=100000000-',
]

// prettier-ignore
export const ACCEPTS = [
  '', '*/*', 'garbage', ';;;', 'application/vnd.oci.image.manifest.v1+json;q=abc', '*/*;q=0',
  'application/json;q=0, */*;q=0', 'text/html', 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/x-a, '.repeat(1500), 'application/vnd.oci.image.index.v1+json; q=-1', 'a/b; c="unterminated',
  '\u00e9/\u00e9', 'application/vnd.docker.distribution.manifest.list.v2+json;q=0.5, application/vnd.oci.image.manifest.v1+json;q=NaN',
]

// prettier-ignore
export const AUTHORIZATIONS = [
  'Bearer', 'Bearer ', 'Bearer x', `Bearer ${'a'.repeat(8000)}`, 'Bearer a.b.c', 'Bearer eyJhbGciOiJub25lIn0.eyJ9.',
  'Basic', 'Basic !!!', `Basic ${b64('nocolon')}`, `Basic ${b64(':')}`, `Basic ${b64('alice:wrong')}`,
  `Basic ${b64(`${'a'.repeat(5000)}:x`)}`, 'Digest username="x"', 'Negotiate YII=', 'bearer token', 'BEARER x',
  'Token x', ' ', 'garbage', 'Bearer x\tY', `Basic ${b64('alice:alice-secret')}`, 'Basic =', `Bearer ${'\u00e9'.repeat(10)}`,
]

/** Headers a mirror reads or a proxy passes on, with values that make no sense. */
// prettier-ignore
export const ODD_HEADERS: Array<[string, string]> = [
  ['If-None-Match', '"sha256:zz"'], ['If-None-Match', '*'], ['If-None-Match', 'W/"x", ,,'], ['If-Modified-Since', 'yesterday'],
  ['Host', ''], ['Host', 'a"b'], ['Host', 'x:99999'], ['Host', '[::1'], ['X-Forwarded-Proto', 'gopher'],
  ['X-Forwarded-Host', 'evil.invalid'], ['Content-Type', 'application/json; charset=bogus'], ['Content-Length', '0'],
  ['Cookie', 'a'.repeat(4000)], ['Accept-Encoding', 'gzip;q=x, br, *'], ['TE', 'trailers, deflate'], ['Upgrade', 'h2c'],
  ['Connection', 'Upgrade, HTTP2-Settings, Authorization'], ['Docker-Distribution-Api-Version', 'registry/3.0'],
  ['Keep-Alive', 'timeout=5'], ['Proxy-Connection', 'keep-alive'], ['Upgrade', 'websocket'], ['TE', 'trailers'],
]

/** Queries on the pull routes: page sizes and markers out of range. */
// prettier-ignore
export const QUERIES = [
  'n=0', 'n=-1', 'n=99999999999999999999', 'n=1e3', 'n=', 'n=1&n=2', 'last=', `last=${'z'.repeat(3000)}`, 'last=%00',
  'artifactType=', 'artifactType=%2F%2F', 'ns=', 'ns=docker.io&ns=ghcr.io', 'ns=..', 'n=1&last=%FF',
]

/** Chunked bodies that do not add up. */
// prettier-ignore
export const BAD_CHUNKS = [
  'zz\r\nhello\r\n0\r\n\r\n', '-1\r\nhello\r\n0\r\n\r\n', 'fffffffffffffffffff\r\nx\r\n', '5\r\nhello0\r\n\r\n',
  '5;ext=\u0000\r\nhello\r\n0\r\n\r\n', '0x5\r\nhello\r\n0\r\n\r\n', '5\r\nhel',
]
