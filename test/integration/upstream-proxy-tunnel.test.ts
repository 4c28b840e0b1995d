// An https upstream behind a proxy: reached through CONNECT tunnels, TLS end to end. The
// mirror runs as its own process, which trusts the test's CA (NODE_EXTRA_CA_CERTS).
import t from 'tap'
import { request } from 'undici'
import { spawnMirror } from '../helpers/mirror-process.js'
import { startRegistry } from '../helpers/registry.js'
import { copySeededStorage } from '../helpers/seeded-images.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startTinyproxy } from '../helpers/tinyproxy.js'
import { makeTestCa } from '../helpers/tls-ca.js'
import { startTokenServer } from '../helpers/token-server.js'

t.test('an https upstream is pulled through CONNECT tunnels, blobs through undici', async (t) => {
  const ca = await makeTestCa()
  t.teardown(ca.remove)
  const storage = await makeTempDir('upstream')
  t.teardown(storage.remove)
  const fixture = await copySeededStorage(storage.path)
  const tokens = await startTokenServer()
  t.teardown(() => tokens.close())
  const tls = await ca.issue('registry')
  const registry = await startRegistry({ storageDir: storage.path, tokenServer: tokens, tls })
  t.teardown(() => registry.close())
  const proxy = await startTinyproxy()
  t.teardown(() => proxy.close())
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)

  const mirror = await spawnMirror(['--upstream', registry.url, '--cache-dir', cache.path], {
    MIRROR_UPSTREAM_PROXY: proxy.url,
    NODE_EXTRA_CA_CERTS: ca.caFile,
  })
  t.teardown(() => mirror.service.close())
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`127.0.0.1:${mirror.port}/library/small:1`, out.path)
  const digests = await verifyDirLayout(out.path)
  const blobs = fixture.images.small!.blobs.map((b) => b.digest)
  t.ok(
    blobs.every((d) => digests.includes(d)),
    'every config and layer arrived byte-exact',
  )

  const host = new URL(registry.url).host
  const tunnels = proxy.requestsTo(registry.url)
  t.ok(tunnels.length > 0, 'the registry was reached through the proxy')
  t.ok(
    tunnels.every((r) => r.method === 'CONNECT' && r.target === host),
    'through tunnels only (kept alive: one may carry several requests)',
  )
  t.equal(proxy.requestsTo(tokens.url).length, tokens.requests.length, 'tokens through the proxy in absolute form')

  const metrics = await (await request(`${mirror.url}/metrics`)).body.text()
  const tunnelled = /registry_mirror_upstream_transport_fallbacks_total\{reason="proxy-tunnel",upstream="[^"]+"\} (\d+)/
  t.equal(Number(tunnelled.exec(metrics)?.[1]), blobs.length, 'each blob left to undici once, and counted')
})
