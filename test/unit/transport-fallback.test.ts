import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { Agent } from 'undici'
import { TokenService } from '../../src/auth/token-service.js'
import { SegmentPool } from '../../src/buffers/segment-pool.js'
import { TRANSPORT_FALLBACK_REASONS } from '../../src/http/upstream-observer.js'
import { upstreamObserver } from '../../src/metrics/adapters.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { PooledTransport } from '../../src/upstream/http1/pooled-transport.js'
import { followRedirects } from '../../src/upstream/redirect-interceptor.js'
import { UpstreamClient } from '../../src/upstream/upstream-client.js'

const METRIC = 'registry_mirror_upstream_transport_fallbacks_total'

/** An upstream whose blobs come chunked, and one that has a Content-Length; it counts requests. */
async function registryServer(t: Test) {
  const paths: string[] = []
  const server = createServer((req, res) => {
    paths.push(req.url!)
    if (req.url!.endsWith('chunked')) {
      res.write('part one, ')
      res.end('part two')
    } else res.writeHead(200, { 'content-length': '6' }).end('framed')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths }
}

async function client(t: Test, baseUrl: string) {
  const registry = new Registry()
  const dispatcher = new Agent().compose(followRedirects(5))
  const pooled = new PooledTransport({
    segments: new SegmentPool(64 * 1024, 4),
    connectTimeoutMs: 2000,
    timeoutMs: 2000,
    maxRedirects: 5,
  })
  t.teardown(async () => {
    pooled.close()
    await dispatcher.close()
  })
  const observer = upstreamObserver(createMetrics(registry, ['registry.test']), 'registry.test')
  const tokens = new TokenService(dispatcher, 'test', 2000, observer)
  const upstream = new UpstreamClient({ baseUrl, dispatcher, pooled, tokens, userAgent: 'test', observer })
  const fallbacks = async () => {
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === METRIC)
    return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.reason), v.value]))
  }
  return { upstream, fallbacks }
}

async function blob(upstream: UpstreamClient, name: string): Promise<string> {
  const response = await upstream.send({
    method: 'GET',
    path: `/v2/library/x/blobs/${name}`,
    repo: 'library/x',
    auth: { kind: 'client', credentials: { kind: 'anonymous' } },
    pooledBody: true,
  })
  const chunks: Buffer[] = []
  for await (const chunk of response.body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks).toString()
}

t.test('every fallback reason has a series from the start, at 0', async (t) => {
  const { fallbacks } = await client(t, 'http://127.0.0.1:9')
  t.same(await fallbacks(), Object.fromEntries(TRANSPORT_FALLBACK_REASONS.map((reason) => [reason, 0])))
})

t.test('a body the pooled transport cannot frame is sent again through undici, and counted', async (t) => {
  const { url, paths } = await registryServer(t)
  const { upstream, fallbacks } = await client(t, url)
  t.equal(await blob(upstream, 'chunked'), 'part one, part two', 'the whole body, through undici')
  t.same(paths, ['/v2/library/x/blobs/chunked', '/v2/library/x/blobs/chunked'], 'asked twice')
  t.match(await fallbacks(), { framing: 1, 'folded-head': 0 })

  t.equal(await blob(upstream, 'framed'), 'framed')
  t.equal(paths.length, 3, 'a Content-Length body is asked for once')
  t.match(await fallbacks(), { framing: 1 }, 'and not counted')
})
