import t, { type Test } from 'tap'
import { json } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import { settledAccessLog } from '../helpers/registry.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startTinyproxy, type HttpProxy } from '../helpers/tinyproxy.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const CREDENTIALS = { user: 'mirror', password: 'proxy-secret-4711' }

async function upstreamAndProxy(t: Test, options: Parameters<typeof startTinyproxy>[0] = {}) {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const proxy = await startTinyproxy(options)
  t.teardown(() => proxy.close())
  return { upstream, proxy }
}

/** skopeo pulls `library/small:1` through the mirror; returns the digests, each checked against its bytes. */
async function pullSmall(t: Test, upstream: Upstream, mirror: RunningMirror): Promise<string[]> {
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/library/small:1`, out.path)
  const digests = await verifyDirLayout(out.path)
  const expected = upstream.fixture.images.small!.blobs.map((b) => b.digest)
  t.ok(
    expected.every((d) => digests.includes(d)),
    'every config and layer arrived byte-exact',
  )
  return expected
}

t.test('every registry and token request goes through the proxy, its credentials never shown', async (t) => {
  const { upstream, proxy } = await upstreamAndProxy(t, { credentials: CREDENTIALS })
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { upstreamProxy: proxy.url } })
  t.teardown(() => mirror.close())
  const blobs = await pullSmall(t, upstream, mirror)

  const registry = (await settledAccessLog(upstream.registry)).length
  const viaProxy = proxy.requestsTo(upstream.registry.url)
  t.equal(viaProxy.length, registry, 'each request the registry served came through the proxy')
  const paths = viaProxy.map((r) => new URL(r.target).pathname)
  t.ok(
    paths.some((p) => p.startsWith('/v2/library/small/manifests/')),
    'manifests',
  )
  for (const digest of blobs) t.ok(paths.includes(`/v2/library/small/blobs/${digest}`), `blob ${digest}`)
  t.ok(upstream.tokens.requests.length > 0, 'tokens were fetched')
  t.equal(proxy.requestsTo(upstream.tokens.url).length, upstream.tokens.requests.length, 'and each through the proxy')

  const metrics = await mirror.app.registry.metrics()
  t.notMatch(
    metrics,
    /registry_mirror_upstream_transport_fallbacks_total\{[^}]*\} [1-9]/,
    'the pooled transport read the blobs itself, in absolute form through the proxy',
  )
  const shown = JSON.stringify(mirror.logs) + metrics
  t.notOk(shown.includes(CREDENTIALS.password), 'the password is in no log line and no metric')
  t.ok(
    mirror.logs.some((l) => l.proxy === 'http://***@127.0.0.1:' + proxy.port),
    'the log names the proxy, redacted',
  )
})

t.test('HTTP_PROXY and NO_PROXY from the environment: the exempt registry is asked direct', async (t) => {
  const { upstream, proxy } = await upstreamAndProxy(t)
  const registryHost = new URL(upstream.registry.url).host
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    env: { HTTP_PROXY: proxy.url, no_proxy: `example.invalid,${registryHost}` },
  })
  t.teardown(() => mirror.close())
  await pullSmall(t, upstream, mirror)
  t.same(proxy.requestsTo(upstream.registry.url), [], 'no registry request through the proxy')
  t.ok(upstream.tokens.requests.length > 0, 'tokens were fetched')
  t.equal(proxy.requestsTo(upstream.tokens.url).length, upstream.tokens.requests.length, 'through the proxy')
})

t.test('upstreamProxy none wins over the environment', async (t) => {
  const { upstream, proxy } = await upstreamAndProxy(t)
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: { upstreamProxy: 'none' },
    env: { HTTP_PROXY: proxy.url },
  })
  t.teardown(() => mirror.close())
  await pullSmall(t, upstream, mirror)
  t.same(proxy.requests(), [], 'the proxy was asked nothing')
})

async function stoppedProxyAnswers(t: Test, proxy: HttpProxy, upstream: Upstream, mirror: RunningMirror) {
  const before = (await settledAccessLog(upstream.registry)).length
  const tokensBefore = upstream.tokens.requests.length
  await proxy.close()
  // Not pulled before: the mirror must ask upstream for both.
  const image = upstream.fixture.images.big!
  for (const path of [`manifests/${image.tag}`, `blobs/${image.blobs[0]!.digest}`]) {
    const answer = await json(`${mirror.url}/v2/${image.repo}/${path}`)
    t.equal(answer.status, 503, `${path}: 503`)
    t.match(answer.body, { errors: [{ code: 'UNAVAILABLE' }] }, 'in the OCI error format')
  }
  t.equal((await settledAccessLog(upstream.registry)).length, before, 'the registry was never asked direct')
  t.equal(upstream.tokens.requests.length, tokensBefore, 'nor the token server')
}

t.test('with the proxy stopped the mirror answers 503 and never goes direct', async (t) => {
  const { upstream, proxy } = await upstreamAndProxy(t)
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { upstreamProxy: proxy.url } })
  t.teardown(() => mirror.close())
  await stoppedProxyAnswers(t, proxy, upstream, mirror)
})

t.test('a proxy set for one upstream in the upstreams list', async (t) => {
  const { upstream, proxy } = await upstreamAndProxy(t)
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: { upstreamName: 'docker.io', upstreams: [{ name: 'docker.io', proxy: proxy.url }] },
  })
  t.teardown(() => mirror.close())
  await pullSmall(t, upstream, mirror)
  t.ok(proxy.requestsTo(upstream.registry.url).length > 0, 'the registry was asked through the proxy')
  await stoppedProxyAnswers(t, proxy, upstream, mirror)
})
