import t from 'tap'
import { startMirror } from '../helpers/mirror.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test('skopeo pulls every kind of image through the mirror, then from its disk alone', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const images = upstream.fixture.images
  const pull = async (name: string, all: boolean) => {
    const out = await makeTempDir('pull')
    t.teardown(out.remove)
    const image = images[name]!
    await skopeoCopy(`${mirror.host}/${image.repo}:${image.tag}`, out.path, all ? ['--all'] : [])
    return verifyDirLayout(out.path)
  }

  for (const [name, all] of [
    ['small', false],
    ['multi', true],
    ['docker2', false],
    ['dlist', true],
    ['big', false],
  ] as const) {
    const digests = await pull(name, all)
    const expected = images[name]!.blobs.map((b) => b.digest)
    t.ok(
      expected.every((d) => digests.includes(d)),
      `${name}: every config and layer arrived byte-exact`,
    )
  }
  const blobGetsAfterCold = upstream.registry.blobGets().length
  t.ok(blobGetsAfterCold > 0)

  for (const name of ['small', 'big', 'dlist']) await pull(name, name === 'dlist')
  t.equal(upstream.registry.blobGets().length, blobGetsAfterCold, 'warm pulls make no blob request upstream')

  await t.test('after a restart the cache is still there', async (t) => {
    await mirror.stop()
    const again = await startMirror({ upstream: upstream.registry.url, cacheDir: mirror.cacheDir })
    t.teardown(() => again.stop())
    const out = await makeTempDir('pull')
    t.teardown(out.remove)
    await skopeoCopy(`${again.host}/library/big:1`, out.path)
    await verifyDirLayout(out.path)
    t.equal(upstream.registry.blobGets().length, blobGetsAfterCold, 'no blob request upstream after restart')
  })
})

t.test('Docker Hub naming: a one-component name means library/<name>', async (t) => {
  const { upstream, mirror } = await startStack(t, { settings: { defaultNamespace: 'library' } })
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/small:1`, out.path)
  await verifyDirLayout(out.path)
  t.ok(
    upstream.registry.accessLog().some((e) => e.path.startsWith('/v2/library/small/manifests/')),
    'asked upstream for library/small',
  )
  const gets = upstream.registry.blobGets().length
  await skopeoCopy(`${mirror.host}/library/small:1`, out.path)
  t.equal(upstream.registry.blobGets().length, gets, 'small and library/small share one cache entry')
})
