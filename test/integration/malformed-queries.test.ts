import t from 'tap'
import { rawExchange, rawGet } from '../helpers/raw-http.js'
import { startStack } from '../helpers/setup.js'

t.test('a query string that does not decode is a 400 in the OCI format, on every route', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const small = upstream.fixture.images.small!
  const gets: Array<[string, string]> = [
    ['/v2/_catalog?last=%ZZ', 'UNSUPPORTED'],
    ['/v2/library/alpine/blobs/uploads/?n=0%', 'PAGINATION_NUMBER_INVALID'],
    ['/v2/library/alpine/blobs/uploads/1234?_state=%ZZ', 'UNSUPPORTED'],
    [`/v2/${small.repo}/tags/list?n=%ZZ`, 'PAGINATION_NUMBER_INVALID'],
    [`/v2/${small.repo}/tags/list?n=1&last=%C0%AF`, 'UNSUPPORTED'],
    [`/v2/${small.repo}/manifests/1?ns=%ZZ`, 'UNSUPPORTED'],
    [`/v2/${small.repo}/blobs/${small.blobs[0]!.digest}?%`, 'UNSUPPORTED'],
    ['/v2/?ns=docker.io%', 'UNSUPPORTED'],
    ['/token?scope=%ZZ&service=test-registry', 'UNSUPPORTED'],
  ]
  for (const [target, code] of gets) {
    const answer = await rawGet(mirror.url, target)
    t.equal(answer.status, 400, `GET ${target}: 400`)
    t.match(JSON.parse(answer.body.toString()) as unknown, { errors: [{ code }] }, code)
    t.equal(answer.headers['docker-distribution-api-version'], 'registry/2.0')
  }
  const writes: Array<[string, string, string]> = [
    ['POST', '/v2/library/small/blobs/uploads/?digest=sha256%3A%ZZ', 'DIGEST_INVALID'],
    ['PUT', '/v2/library/small/blobs/uploads/1234?digest=%', 'DIGEST_INVALID'],
    ['PATCH', '/v2/library/small/blobs/uploads/1234?_state=%ZZ', 'UNSUPPORTED'],
    ['DELETE', '/v2/library/small/manifests/1?x=%ZZ', 'UNSUPPORTED'],
    ['POST', '/token?scope=%ZZ', 'UNSUPPORTED'],
  ]
  for (const [method, target, code] of writes) {
    const request = `${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`
    const { responses } = await rawExchange(mirror.url, request)
    t.equal(responses[0]?.status, 400, `${method} ${target}: 400`)
    t.match(JSON.parse(responses[0]?.body.toString() ?? '') as unknown, { errors: [{ code }] }, code)
  }
  t.same(
    upstream.registry.accessLog().filter((e) => /%ZZ|%C0|%$/i.test(e.path)),
    [],
    'none of them reached the upstream',
  )

  const fine = await rawGet(mirror.url, `/v2/${small.repo}/tags/list?n=5&last=%30`)
  t.equal(fine.status, 200, 'a query that decodes is served as before')
  t.same(JSON.parse(fine.body.toString()), { name: small.repo, tags: ['1'] })
})
