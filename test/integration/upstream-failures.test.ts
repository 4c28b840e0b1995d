import t from 'tap'
import { assertNothingCached } from '../helpers/cache-assertions.js'
import { download, http, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

const bigBlob = (images: Record<string, { blobs: Array<{ digest: string; size: number }> }>) =>
  images.big!.blobs.reduce((a, b) => (a.size > b.size ? a : b))

t.test('the upstream connection drops mid-blob', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  const blob = bigBlob(upstream.fixture.images)
  const url = `${mirror.url}/v2/library/big/blobs/${blob.digest}`
  proxy!.setFault({ kind: 'cut', afterBytes: 10 * 1024 * 1024 })
  const result = await download(url)
  t.equal(result.status, 200, 'the response had started')
  t.ok(result.error, 'the client sees the transfer fail')
  t.ok(result.bytes <= 10 * 1024 * 1024)
  await assertNothingCached(t, mirror, blob.digest)
  proxy!.setFault(undefined)
  t.equal((await download(url)).digest, blob.digest, 'the next pull succeeds')
})

t.test('the upstream stalls mid-blob: the idle timeout ends the fill', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true, settings: { upstreamTimeout: 1 } })
  const blob = bigBlob(upstream.fixture.images)
  const url = `${mirror.url}/v2/library/big/blobs/${blob.digest}`
  proxy!.setFault({ kind: 'stall', afterBytes: 1024 * 1024 })
  const result = await download(url)
  t.ok(result.error, 'the client sees the transfer fail')
  await assertNothingCached(t, mirror, blob.digest)
  proxy!.setFault(undefined)
  t.equal((await download(url)).digest, blob.digest)
})

t.test('upstream 503 and 429 are relayed with their headers; cached content keeps flowing', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  const image = upstream.fixture.images.small!
  const cachedBlob = image.blobs[0]!
  t.equal((await download(`${mirror.url}/v2/${image.repo}/blobs/${cachedBlob.digest}`)).digest, cachedBlob.digest)
  await mirror.app.mirror.blobs.settled()

  proxy!.setFault({ kind: 'status', status: 503 }, () => true)
  const other = image.blobs[1]!
  const failed = await http(`${mirror.url}/v2/${image.repo}/blobs/${other.digest}`)
  t.equal(failed.status, 503)
  t.match(JSON.parse(failed.body.toString()), { errors: [{ code: 'UNAVAILABLE' }] })
  await assertNothingCached(t, mirror, other.digest)

  proxy!.setFault({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, () => true)
  const limited = await http(`${mirror.url}/v2/${image.repo}/manifests/${image.tag}`, {
    headers: { accept: ACCEPT_ALL },
  })
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '30', 'Retry-After reaches the client')

  const hit = await download(`${mirror.url}/v2/${image.repo}/blobs/${cachedBlob.digest}`)
  t.equal(hit.digest, cachedBlob.digest, 'cached blobs are still served')
  proxy!.setFault(undefined)
  t.equal((await download(`${mirror.url}/v2/${image.repo}/blobs/${other.digest}`)).digest, other.digest)
})

t.test('the upstream is down: a clear 503, not a hang; cached blobs still answer HEAD and GET', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const cached = upstream.fixture.images.small!.blobs[0]!
  const cachedUrl = `${mirror.url}/v2/library/small/blobs/${cached.digest}`
  t.equal((await download(cachedUrl)).digest, cached.digest)
  await mirror.app.mirror.blobs.settled()
  await upstream.stopRegistry()
  const head = await http(cachedUrl, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD falls back to the cache')
  t.equal(head.headers['content-length'], String(cached.size))
  t.equal((await download(cachedUrl)).digest, cached.digest)
  const digest = bigBlob(upstream.fixture.images).digest
  const result = await http(`${mirror.url}/v2/library/big/blobs/${digest}`)
  t.equal(result.status, 503)
  t.match(JSON.parse(result.body.toString()), { errors: [{ code: 'UNAVAILABLE' }] })
  await assertNothingCached(t, mirror, digest)
  await upstream.restartRegistry()
  t.equal((await download(`${mirror.url}/v2/library/big/blobs/${digest}`)).digest, digest)
})

t.test('the registry process is killed mid-blob', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  const blob = bigBlob(upstream.fixture.images)
  const url = `${mirror.url}/v2/library/big/blobs/${blob.digest}`
  // Slow enough that the kill lands mid-body.
  proxy!.setFault({ kind: 'throttle', bytesPerSecond: 16 * 1024 * 1024 })
  const pending = download(url)
  await proxy!.forwarded(8 * 1024 * 1024)
  await upstream.registry.kill()
  const result = await pending
  t.ok(result.error, 'the client sees the transfer fail')
  t.ok(result.bytes < blob.size)
  await assertNothingCached(t, mirror, blob.digest)
  await upstream.restartRegistry()
  proxy!.setFault(undefined)
  t.equal((await download(url)).digest, blob.digest)
})

t.test('a stale tag is served when the token service fails, not just the registry', async (t) => {
  let clock = Date.now()
  const { upstream, mirror } = await startStack(t, { now: () => clock })
  const image = upstream.fixture.images.small!
  const url = `${mirror.url}/v2/${image.repo}/manifests/${image.tag}`
  t.equal((await http(url, { headers: { accept: ACCEPT_ALL } })).status, 200)
  const tokensAsked = upstream.tokens.requests.length
  // Past the tag TTL (not the verdict's), and past the mirror's token's life: it asks again.
  clock += 301_000
  for (const status of [503, 429]) {
    upstream.tokens.failWith(status)
    const stale = await http(url, { headers: { accept: ACCEPT_ALL } })
    t.equal(stale.status, 200, `token service ${status}: the known mapping stands`)
    t.equal(sha256(stale.body), image.digest)
  }
  t.ok(upstream.tokens.requests.length > tokensAsked, 'the token service was asked, and failed')
  upstream.tokens.failWith(undefined)
})

t.test('a tag gone upstream is MANIFEST_UNKNOWN once its mapping is re-checked', async (t) => {
  let clock = Date.now()
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true, now: () => clock })
  const image = upstream.fixture.images.small!
  const url = `${mirror.url}/v2/${image.repo}/manifests/${image.tag}`
  t.equal((await http(url, { headers: { accept: ACCEPT_ALL } })).status, 200)
  clock += 301_000
  proxy!.setFault({ kind: 'status', status: 404 }, (method, path) => method === 'HEAD' && path.includes('/manifests/'))
  const gone = await http(url, { headers: { accept: ACCEPT_ALL } })
  t.equal(gone.status, 404)
  t.match(JSON.parse(gone.body.toString()), { errors: [{ code: 'MANIFEST_UNKNOWN' }] })
})
