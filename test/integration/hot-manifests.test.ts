// Cached manifests answered before fastify (server/hot-manifests.ts): the same answers,
// log lines and metrics as the pull routes give, under the same TTL and verdict rules, and
// only where the index's memory is the truth (never with Redis, which another replica
// may have written newer facts to).
import t, { type Test } from 'tap'
import { http, sha256, type HttpResult } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import { startRedis } from '../helpers/redis.js'
import { settledAccessLog } from '../helpers/registry.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const TAG_TTL_S = 60
const VERDICT_TTL_S = 600

async function setUp(t: Test, settings: Record<string, unknown> = {}) {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  let clock = Date.now()
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: { tagTtl: TAG_TTL_S, verdictTtl: VERDICT_TTL_S, ...settings },
    now: () => clock,
  })
  t.teardown(() => mirror.close())
  const small = upstream.fixture.images.small!
  return {
    upstream,
    mirror,
    small,
    tagUrl: `${mirror.url}/v2/${small.repo}/manifests/${small.tag}`,
    digestUrl: `${mirror.url}/v2/${small.repo}/manifests/${small.digest}`,
    later: (seconds: number) => (clock += seconds * 1000),
  }
}

const manifest = (url: string, method: 'GET' | 'HEAD' | 'DELETE' = 'GET', headers: Record<string, string> = {}) =>
  http(url, { method, headers: { accept: ACCEPT_ALL, ...headers } })

function sameAnswer(t: Test, got: HttpResult, want: HttpResult, what: string): void {
  t.equal(got.status, want.status, `${what}: status`)
  for (const name of [
    'content-type',
    'docker-content-digest',
    'etag',
    'content-length',
    'docker-distribution-api-version',
  ]) {
    t.equal(got.headers[name], want.headers[name], `${what}: ${name}`)
  }
}

async function manifestHeads(upstream: Upstream): Promise<number> {
  const log = await settledAccessLog(upstream.registry)
  return log.filter((entry) => entry.method === 'HEAD' && entry.path.includes('/manifests/')).length
}

const requestLines = (mirror: RunningMirror) => mirror.logs.filter((line) => line.msg === 'request')

t.test('a cached manifest is answered before fastify, as the pull routes answer it', async (t) => {
  const { mirror, small, tagUrl, digestUrl } = await setUp(t)
  const first = await manifest(tagUrl)
  t.equal(first.status, 200)
  t.equal(mirror.app.hot.answered, 0, 'the first pull fills the cache through the routes')

  const head = await manifest(tagUrl, 'HEAD')
  sameAnswer(t, head, first, 'HEAD by tag')
  const get = await manifest(tagUrl)
  sameAnswer(t, get, first, 'GET by tag')
  t.equal(sha256(get.body), small.digest, 'the verified bytes')
  sameAnswer(t, await manifest(digestUrl, 'HEAD'), first, 'HEAD by digest')
  const byDigest = await manifest(digestUrl)
  t.equal(sha256(byDigest.body), small.digest, 'GET by digest')
  const name = mirror.config.upstream.name
  sameAnswer(t, await manifest(`${tagUrl}?ns=${name}`, 'HEAD'), first, 'with the default upstream named by ns')
  t.equal(mirror.app.hot.answered, 5, 'all five answered before fastify')

  const lines = requestLines(mirror).slice(-5)
  t.same(
    lines.map((line) => [line.method, line.status, line.outcome, line.upstream]),
    [
      ['HEAD', 200, 'hit', name],
      ['GET', 200, 'hit', name],
      ['HEAD', 200, 'hit', name],
      ['GET', 200, 'hit', name],
      ['HEAD', 200, 'hit', name],
    ],
    'one request line each',
  )
  t.equal(new Set(requestLines(mirror).map((line) => line.reqId)).size, requestLines(mirror).length, 'ids unique')
  const metrics = (await http(`${mirror.url}/metrics`)).body.toString()
  const heads = `registry_mirror_requests_total{route="manifest",method="HEAD",status="2xx",cache="hit",upstream="${name}"} 3`
  t.ok(metrics.includes(heads), 'counted')
})

t.test('what the routes must see still goes to them', async (t) => {
  const { mirror, tagUrl, small } = await setUp(t)
  await manifest(tagUrl)
  const conditional = await manifest(tagUrl, 'GET', { 'if-none-match': `"${small.digest}"` })
  t.equal(conditional.status, 304, 'a conditional request: 304 from the routes')
  const refused = await manifest(`${tagUrl}?ns=ghcr.io`, 'HEAD')
  t.equal(refused.status, 404, 'a registry not served: refused as ever')
  const badQuery = await manifest(`${tagUrl}?ns=%ZZ`, 'HEAD')
  t.equal(badQuery.status, 400, 'a bad escape in the query: 400')
  const post = await http(tagUrl, { method: 'DELETE' })
  t.not(post.status, 200, 'other methods are not answered from the cache')
  t.equal(mirror.app.hot.answered, 0)
})

t.test('the tag TTL and the verdict TTL hold as they do on the routes', async (t) => {
  const { upstream, mirror, tagUrl, later } = await setUp(t)
  await manifest(tagUrl)
  await manifest(tagUrl, 'HEAD')
  t.equal(mirror.app.hot.answered, 1)
  const heads = await manifestHeads(upstream)

  later(TAG_TTL_S + 1)
  t.equal((await manifest(tagUrl, 'HEAD')).status, 200)
  t.equal(mirror.app.hot.answered, 1, 'a mapping past its TTL goes to the routes')
  t.ok((await manifestHeads(upstream)) > heads, 'which ask the upstream again')
  t.equal((await manifest(tagUrl, 'HEAD')).status, 200)
  t.equal(mirror.app.hot.answered, 2, 'the re-checked mapping is hot again')

  later(VERDICT_TTL_S + 1)
  const before = (await settledAccessLog(upstream.registry)).length
  t.equal((await manifest(tagUrl, 'HEAD')).status, 200)
  t.equal(mirror.app.hot.answered, 2, 'a verdict past its TTL goes to the routes')
  t.ok((await settledAccessLog(upstream.registry)).length > before, 'which check the repository again')
})

t.test('with Redis, every request goes to the routes: another replica may have newer facts', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const { mirror, tagUrl } = await setUp(t, { redisUrl: redis.url })
  await manifest(tagUrl)
  const head = await manifest(tagUrl, 'HEAD')
  t.equal(head.status, 200)
  t.equal(mirror.app.hot.answered, 0)
  const line = requestLines(mirror).at(-1)
  t.equal(line?.outcome, 'hit', 'served from the cache all the same')
})
