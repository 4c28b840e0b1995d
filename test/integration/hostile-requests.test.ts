import t from 'tap'
import { rawExchange } from '../helpers/raw-http.js'
import { startStack } from '../helpers/setup.js'

/**
 * Requests the seeded fuzz test (fuzz.test.ts) found mishandled, replayed exactly on
 * every run. `HOST` stands for the mirror's host:port.
 */
const FOUND: Array<{ name: string; request: string; status: number; code?: string }> = [
  {
    name: 'a forwarded upload with Expect: 100-continue',
    request:
      'POST /v2/library/small/blobs/uploads/ HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n' +
      'Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhello',
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'a forwarded GET with Expect: 100-continue',
    request: 'GET /v2/_catalog HTTP/1.1\r\nHost: HOST\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'a forwarded GET with Upgrade: h2c',
    request: 'GET /v2/_catalog HTTP/1.1\r\nHost: HOST\r\nUpgrade: h2c\r\nConnection: close\r\n\r\n',
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'a forwarded GET with Keep-Alive and Proxy-Connection',
    request:
      'GET /v2/_catalog HTTP/1.1\r\nHost: HOST\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
      'Connection: close\r\n\r\n',
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'an absolute-form target naming another host',
    request:
      'GET http://example.invalid/v2/nope/nothing/manifests/x HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n',
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'an absolute-form target naming the mirror',
    request:
      'GET http://HOST/v2/library/small/manifests/1 HTTP/1.1\r\nHost: HOST\r\n' +
      'Accept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n',
    status: 200,
  },
  {
    name: 'an absolute-form target with dot segments',
    request: 'GET http://HOST/v2/library/x/../small/tags/list HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n',
    status: 200,
  },
  {
    name: 'a forwarded path the upstream answers with a plain-text 404',
    request: 'GET /v2/library/small/no-such-endpoint HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n',
    status: 404,
    code: 'NAME_UNKNOWN',
  },
  {
    name: 'an upload session of a name that is not one, refused before it is routed',
    request: 'GET /v2/library</small/blobs/uploads/ HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n',
    status: 400,
    code: 'NAME_INVALID',
  },
  {
    name: 'a forwarded path with an encoded NUL the upstream answers with a plain-text 404',
    request: 'GET /v2/_%00catalog HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n\r\n',
    status: 404,
    code: 'NAME_UNKNOWN',
  },
  {
    name: 'a forwarded write the upstream answers with a plain-text 404',
    request:
      'PUT /v2/library/small/no-such-endpoint HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    status: 404,
    code: 'NAME_UNKNOWN',
  },
  {
    name: 'a write to a name that is not one, refused before it is routed',
    request: 'PUT /v2/a"b/blobs/uploads/x HTTP/1.1\r\nHost: HOST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    status: 400,
    code: 'NAME_INVALID',
  },
  {
    name: 'a forwarded upload whose chunked body breaks off',
    request:
      'POST /v2/library/small/blobs/uploads/ HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n' +
      'Transfer-Encoding: chunked\r\n\r\n5\r\nhel',
    status: 400,
    code: 'UNSUPPORTED',
  },
  {
    name: 'a forwarded upload with a negative chunk size',
    request:
      'POST /v2/library/small/blobs/uploads/ HTTP/1.1\r\nHost: HOST\r\nConnection: close\r\n' +
      'Transfer-Encoding:  chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n',
    status: 400,
    code: 'UNSUPPORTED',
  },
]

/** The body as JSON, or as text when it is not JSON (so that a match fails and shows it). */
function parsed(body: Buffer | undefined): unknown {
  try {
    return JSON.parse(body?.toString() ?? '')
  } catch {
    return body?.toString()
  }
}

t.test('requests the fuzz test found are answered as they should be', async (t) => {
  const { mirror } = await startStack(t)
  for (const row of FOUND) {
    const { responses } = await rawExchange(mirror.url, row.request.replaceAll('HOST', mirror.host), {
      halfClose: true,
    })
    const answer = responses.at(-1)
    t.equal(answer?.status, row.status, `${row.name}: ${row.status}`)
    if (row.code !== undefined) {
      t.match(parsed(answer?.body), { errors: [{ code: row.code }] }, `${row.name}: ${row.code}`)
    }
  }
  t.same(
    mirror.logs.filter((l) => typeof l.level === 'number' && l.level >= 50).map((l) => l.msg),
    [],
    'nothing logged as an error',
  )
})
