import t from 'tap'
import {
  errors,
  toOciError,
  UpstreamContentError,
  UpstreamStatusError,
  UpstreamUnavailableError,
} from '../../src/errors.js'

t.test('mirror errors carry their code and status', async (t) => {
  t.same(toOciError(errors.nameInvalid('Bad')), {
    status: 400,
    headers: {},
    body: { errors: [{ code: 'NAME_INVALID', message: 'invalid repository name', detail: { name: 'Bad' } }] },
  })
  t.same(toOciError(errors.rangeNotSatisfiable(10)).headers, { 'content-range': 'bytes */10' })
  t.equal(toOciError(errors.rangeNotSatisfiable(10)).status, 416)
})

t.test("an upstream's OCI error body is relayed as it is", async (t) => {
  const body = Buffer.from(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }))
  const relayed = toOciError(new UpstreamStatusError(404, { 'retry-after': '1' }, body))
  t.equal(relayed.status, 404)
  t.same(relayed.headers, { 'retry-after': '1' })
  t.same(relayed.body, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] })
})

t.test('a non-OCI upstream body becomes an OCI error with the same status', async (t) => {
  t.same(toOciError(new UpstreamStatusError(429, {}, Buffer.from('<html>slow down</html>'))).body, {
    errors: [{ code: 'TOOMANYREQUESTS', message: 'upstream answered 429' }],
  })
  t.equal(toOciError(new UpstreamStatusError(502, {}, Buffer.from('{"errors": 5}'))).body.errors[0]?.code, 'UNKNOWN')
})

t.test('transport and content failures', async (t) => {
  const unavailable = toOciError(new UpstreamUnavailableError('refused', { cause: new Error('ECONNREFUSED') }))
  t.equal(unavailable.status, 503)
  t.equal(unavailable.body.errors[0]?.code, 'UNAVAILABLE')
  t.equal(toOciError(new UpstreamContentError('bad digest')).status, 502)
})

t.test('HTTP-layer client errors stay 4xx; anything else is a 500 without details', async (t) => {
  const tooLarge = Object.assign(new Error('body too large'), { statusCode: 413 })
  t.equal(toOciError(tooLarge).status, 413)
  const internal = toOciError(new TypeError('secret internals'))
  t.equal(internal.status, 500)
  t.notMatch(JSON.stringify(internal.body), /secret/)
})
