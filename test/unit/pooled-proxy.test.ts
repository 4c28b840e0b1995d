import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { releaseBytes, SegmentPool } from '../../src/buffers/segment-pool.js'
import type { PooledResult } from '../../src/upstream/http1/pooled-body.js'
import { PooledTransport } from '../../src/upstream/http1/pooled-transport.js'

function transport() {
  const pooled = new PooledTransport({
    segments: new SegmentPool(64 * 1024, 4),
    connectTimeoutMs: 2000,
    timeoutMs: 2000,
    maxRedirects: 5,
  })
  t.teardown(() => pooled.close())
  return pooled
}

async function text(result: PooledResult): Promise<string> {
  if (result.kind !== 'response') throw new Error(`unsupported: ${result.reason}`)
  const chunks: Buffer[] = []
  for await (const chunk of result.body as AsyncIterable<Buffer>) {
    chunks.push(Buffer.from(chunk))
    releaseBytes(chunk)
  }
  return Buffer.concat(chunks).toString()
}

t.test('a plain-http URL goes to the proxy in absolute form, with its credentials', async (t) => {
  const seen: Array<{ target: string; host: string | undefined; auth: string | undefined }> = []
  // A forward proxy's view: it answers for the origin it was asked about.
  const proxy = createServer((req, res) => {
    seen.push({ target: req.url!, host: req.headers.host, auth: req.headers['proxy-authorization'] })
    res.writeHead(200, { 'content-length': '5' }).end('blob!')
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => proxy.close())
  const proxyUrl = new URL(`http://us%40r:p%3Ass@127.0.0.1:${(proxy.address() as AddressInfo).port}`)
  const pooled = transport()
  const url = new URL('http://registry.invalid:5000/v2/x/blobs/sha256:1')
  t.equal(await text(await pooled.get(url, { accept: '*/*' }, undefined, () => proxyUrl)), 'blob!')
  t.equal(await text(await pooled.get(url, {}, undefined, () => proxyUrl)), 'blob!', 'again, on a kept connection')
  const auth = `Basic ${Buffer.from('us@r:p:ss').toString('base64')}`
  t.same(seen, [
    { target: url.href, host: 'registry.invalid:5000', auth },
    { target: url.href, host: 'registry.invalid:5000', auth },
  ])
})

t.test('an https URL behind a proxy is left to the general client before anything is sent', async (t) => {
  let connections = 0
  const proxy = createServer(() => {})
  proxy.on('connection', () => connections++)
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => proxy.close())
  const proxyUrl = new URL(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)
  const result = await transport().get(new URL('https://registry.invalid/v2/'), {}, undefined, () => proxyUrl)
  t.same(result, { kind: 'unsupported', reason: 'proxy-tunnel' })
  t.equal(connections, 0)
})
