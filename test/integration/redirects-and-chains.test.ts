import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { download } from '../helpers/http.js'
import { SEED_PASSWORD, SEED_USER } from '../helpers/seeded-images.js'
import { startMirror } from '../helpers/mirror.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

/** Pulls the small image while blob GETs redirect to the fault proxy's CDN. */
async function pullThroughCdn(t: Test, chunked: boolean) {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  proxy!.setFault({ kind: 'redirect', chunked })
  const image = upstream.fixture.images.small!
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/${image.repo}:${image.tag}`, out.path)
  await verifyDirLayout(out.path)
  const cdn = proxy!.requests.filter((r) => r.path.startsWith('/cdn/'))
  t.ok(
    cdn.every((r) => r.authorization === undefined),
    'no Authorization header followed the redirect',
  )
  return { image, mirror, cdn }
}

t.test("blob redirects to a CDN are followed by the mirror, and the upstream's token stays home", async (t) => {
  const { image, mirror, cdn } = await pullThroughCdn(t, false)
  t.equal(cdn.length, image.blobs.length, 'every blob came from the CDN, once')
  const redirected = await download(`${mirror.url}/v2/${image.repo}/blobs/${image.blobs[0]!.digest}`)
  t.equal(redirected.status, 200, 'the client never sees the 307')
})

t.test('a CDN that sends its blobs chunked is still followed (by the general HTTP client)', async (t) => {
  const { image, cdn } = await pullThroughCdn(t, true)
  t.ok(cdn.length >= image.blobs.length, 'the blobs came from the CDN')
})

t.test("a host a redirect leads to cannot collect the mirror's credentials with a challenge", async (t) => {
  // It answers everything with a Bearer challenge naming its own realm, and notes who asks there.
  const seen: Array<string | undefined> = []
  const hostile = createServer((req, res) => {
    if (req.url?.startsWith('/token') === true) {
      seen.push(req.headers.authorization)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}')
      return
    }
    const realm = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/token`
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="elsewhere"` }).end()
  })
  hostile.listen(0, '127.0.0.1')
  await once(hostile, 'listening')
  t.teardown(() => hostile.close())
  const { upstream, mirror, proxy } = await startStack(t, {
    faultProxy: true,
    settings: { upstreamUsername: SEED_USER, upstreamPassword: SEED_PASSWORD },
  })
  const image = upstream.fixture.images.small!
  proxy!.setFault({ kind: 'redirect', to: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}` })
  const led = await download(`${mirror.url}/v2/${image.repo}/blobs/${image.blobs[0]!.digest}`)
  t.not(led.status, 200, 'the blob could not be had there')
  t.same(seen, [], 'no token was asked of the realm it named')

  proxy!.setFault(undefined)
  const later = await download(`${mirror.url}/v2/${image.repo}/blobs/${image.blobs[1]!.digest}`)
  t.equal(later.digest, image.blobs[1]!.digest, "and the upstream's own realm is still the one used")
})

t.test('a mirror in front of a mirror', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const edge = await startMirror({ upstream: mirror.url })
  t.teardown(() => edge.close())
  const image = upstream.fixture.images.big!
  for (let round = 1; round <= 2; round++) {
    const out = await makeTempDir('pull')
    t.teardown(out.remove)
    await skopeoCopy(`${edge.host}/${image.repo}:${image.tag}`, out.path)
    await verifyDirLayout(out.path)
  }
  t.equal(upstream.registry.blobGets().length, image.blobs.length, 'each blob crossed from the upstream once')
  await Promise.all([edge.app.mirror.blobs.settled(), mirror.app.mirror.blobs.settled()])
  for (const blob of image.blobs) {
    t.ok(await edge.app.store.stat(blob.digest), 'cached at the edge')
    t.ok(await mirror.app.store.stat(blob.digest), 'and in the middle')
  }
})
