import t from 'tap'
import { download, http, sha256, type HttpResult } from '../helpers/http.js'
import { rawExchange, rawGet } from '../helpers/raw-http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

/** Sends bytes as they are and reads the one answer, bypassing any client-side normalisation. */
async function send(url: string, text: string): Promise<{ status: number; body: string }> {
  const { responses } = await rawExchange(url, text)
  return { status: responses[0]?.status ?? NaN, body: responses[0]?.body.toString() ?? '' }
}

t.test('bad names, tags, digests and paths get 4xx OCI errors, never a 5xx', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const hex = 'a'.repeat(64)
  const cases: Array<[string, number, string]> = [
    ['/v2/../../etc/passwd/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/library/../private/x/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/%2e%2e/x/manifests/latest', 400, 'NAME_INVALID'],
    [`/v2/${'a'.repeat(10 * 1024)}/manifests/latest`, 400, 'NAME_INVALID'],
    ['/v2/Library/Alpine/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/library/small/manifests/-bad-tag', 400, 'TAG_INVALID'],
    [`/v2/library/small/manifests/${'t'.repeat(200)}`, 400, 'TAG_INVALID'],
    ['/v2/library/small/manifests/sha256:nothex', 400, 'DIGEST_INVALID'],
    [`/v2/library/small/manifests/md5:${hex.slice(0, 32)}`, 400, 'DIGEST_INVALID'],
    ['/v2/library/small/blobs/sha256:abc', 400, 'DIGEST_INVALID'],
    [`/v2/library/small/blobs/sha256:${hex.toUpperCase()}`, 400, 'DIGEST_INVALID'],
    ['/v2/library/small/blobs/latest', 400, 'DIGEST_INVALID'],
    ['/v2/library/small/tags/list?n=-1', 400, 'PAGINATION_NUMBER_INVALID'],
    ['/v2/library/small/tags/list?n=abc', 400, 'PAGINATION_NUMBER_INVALID'],
    [`/v2/library/small/referrers/sha256:zz`, 400, 'DIGEST_INVALID'],
    ['/not-the-api', 404, 'NOT_FOUND'],
    // Malformed percent-escapes: refused by the router itself, still in the OCI format.
    ['/v2/%zz/manifests/1', 400, 'NAME_INVALID'],
    ['/%zz', 400, 'UNSUPPORTED'],
  ]
  for (const [target, status, code] of cases) {
    const result = await rawGet(mirror.url, target)
    t.equal(result.status, status, `${target.slice(0, 60)} → ${status}`)
    t.match(JSON.parse(result.body.toString()) as unknown, { errors: [{ code }] }, code)
  }
  t.equal(
    upstream.registry.accessLog().filter((e) => e.path.includes('..') || e.path.includes('%2e')).length,
    0,
    'no traversal reached the upstream',
  )

  const fine = await http(`${mirror.url}/v2/library/small/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(fine.status, 200, 'the server still serves afterwards')
  t.equal(sha256(fine.body), upstream.fixture.images.small!.digest)
})

t.test('the API version check', async (t) => {
  const { mirror } = await startStack(t)
  for (const path of ['/v2/', '/v2', `/v2/?ns=${mirror.config.upstream.name}`]) {
    const anonymous = await http(`${mirror.url}${path}`)
    t.equal(anonymous.status, 401, `${path}: a token-auth upstream makes the ping a challenge`)
    t.equal(anonymous.headers['docker-distribution-api-version'], 'registry/2.0')
    t.equal(anonymous.headers['www-authenticate'], `Bearer realm="${mirror.url}/token",service="test-registry"`)
    const withToken = await http(`${mirror.url}${path}`, { headers: { authorization: 'Bearer abc' } })
    t.equal(withToken.status, 200, `${path}: a client with credentials is answered`)
  }
})

t.test("requests Node's HTTP parser refuses get OCI errors too, and the server goes on", async (t) => {
  const { upstream, mirror } = await startStack(t)
  const huge = await send(mirror.url, `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.equal(huge.status, 431)
  t.match(JSON.parse(huge.body) as unknown, { errors: [{ code: 'UNSUPPORTED' }] })
  for (const text of ['GARBAGE\r\n\r\n', 'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n']) {
    const refused = await send(mirror.url, text)
    t.equal(refused.status, 400, JSON.stringify(text.slice(0, 30)))
    t.match(JSON.parse(refused.body) as unknown, {
      errors: [{ code: 'UNSUPPORTED', message: 'malformed HTTP request' }],
    })
  }
  const fine = await http(`${mirror.url}/v2/library/small/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(sha256(fine.body), upstream.fixture.images.small!.digest, 'the server still serves afterwards')
})

t.test('an error answer carries none of the headers of a success', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  const small = upstream.fixture.images.small!
  const big = upstream.fixture.images.big!
  const cached = small.blobs[0]!
  t.equal((await download(`${mirror.url}/v2/${small.repo}/blobs/${cached.digest}`)).digest, cached.digest)
  await mirror.app.mirror.blobs.settled()
  const missing = `sha256:${'0'.repeat(64)}`
  const blobUrl = (repo: string, digest: string) => `${mirror.url}/v2/${repo}/blobs/${digest}`
  const check = async (name: string, result: HttpResult, status: number) => {
    t.equal(result.status, status, `${name}: ${status}`)
    t.match(result.headers['content-type'], /^application\/json/, `${name}: an OCI error`)
    for (const header of ['docker-content-digest', 'etag', 'accept-ranges', 'cache-control']) {
      t.equal(result.headers[header], undefined, `${name}: no ${header}`)
    }
  }
  await check('unknown blob', await http(blobUrl(small.repo, missing)), 404)
  await check('unknown blob, HEAD', await http(blobUrl(small.repo, missing), { method: 'HEAD' }), 404)
  const beyond = await http(blobUrl(small.repo, cached.digest), { headers: { range: `bytes=${cached.size}-` } })
  await check('a range beyond a cached blob', beyond, 416)
  t.equal(beyond.headers['content-range'], `bytes */${cached.size}`, "only the error's own Content-Range")
  await check('unknown manifest', await http(`${mirror.url}/v2/${small.repo}/manifests/nope`), 404)

  proxy!.setFault({ kind: 'status', status: 503 })
  await check('the upstream fails a cold blob', await http(blobUrl(big.repo, big.blobs[0]!.digest)), 503)
  proxy!.setFault({ kind: 'cut', afterBytes: 0 })
  const cut = await http(blobUrl(big.repo, big.blobs[1]!.digest))
  await check('the upstream cuts a cold blob before its first byte', cut, cut.status)
  t.ok(cut.status >= 500, 'a 5xx')
})
