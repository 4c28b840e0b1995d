import t from 'tap'
import { download } from '../helpers/http.js'
import { startMirror } from '../helpers/mirror.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test("blob redirects to a CDN are followed by the mirror, and the upstream's token stays home", async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  proxy!.setFault({ kind: 'redirect' })
  const image = upstream.fixture.images.small!
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/${image.repo}:${image.tag}`, out.path)
  await verifyDirLayout(out.path)
  const cdn = proxy!.requests.filter((r) => r.path.startsWith('/cdn/'))
  t.equal(cdn.length, image.blobs.length, 'every blob came from the CDN')
  t.ok(
    cdn.every((r) => r.authorization === undefined),
    'no Authorization header followed the redirect',
  )
  const redirected = await download(`${mirror.url}/v2/${image.repo}/blobs/${image.blobs[0]!.digest}`)
  t.equal(redirected.status, 200, 'the client never sees the 307')
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
  for (const blob of image.blobs) {
    t.ok(await edge.app.store.stat(blob.digest), 'cached at the edge')
    t.ok(await mirror.app.store.stat(blob.digest), 'and in the middle')
  }
})
