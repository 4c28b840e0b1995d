import { execFile } from 'node:child_process'
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { request } from 'undici'
import t from 'tap'
import { listPins, pinImage, unpinImage } from '../../src/cli/pins.js'
import { silentLogger } from '../../src/logger.js'
import { download, http } from '../helpers/http.js'
import { startMirror } from '../helpers/mirror.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'
import { waitFor } from '../helpers/wait.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

t.test('a bounded cache stays under its bound and keeps pinned images', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const images = upstream.fixture.images
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { maxCacheSize: '66MiB' } })
  t.teardown(() => mirror.close())
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  const pull = async (name: string) => {
    await skopeoCopy(`${mirror.host}/${images[name]!.repo}:1`, out.path)
    await mirror.app.mirror.blobs.settled()
  }

  await pull('small')
  const registry = new URL(upstream.registry.url).host
  const pin = await pinImage(mirror.config, silentLogger, 'library/small:1')
  t.equal(pin.image, `${registry}/library/small:1`, 'pinned under the full name')
  t.ok(pin.digests.includes(images.small!.digest), 'the manifest is pinned')
  t.ok(
    images.small!.blobs.every((b) => pin.digests.includes(b.digest)),
    'and every config and layer',
  )
  t.same(
    (await listPins(mirror.config, silentLogger)).map((p) => p.image),
    [`${registry}/library/small:1`],
  )
  await pull('multi')
  await pull('docker2')
  await pull('big')
  await mirror.app.mirror.evictor.check()

  const { bytes } = await mirror.app.index.stats()
  t.ok(bytes <= 66 * MiB * 0.9, `${(bytes / MiB).toFixed(1)} MiB cached, under the high mark`)
  for (const digest of pin.digests) t.ok(await mirror.app.store.stat(digest), 'a pinned blob survived')
  for await (const record of mirror.app.index.listBlobs()) {
    t.ok(await mirror.app.store.stat(record.digest), 'no record points at an evicted file')
  }
  const metrics = (await http(`${mirror.url}/metrics`)).body.toString()
  t.match(metrics, /^registry_mirror_evictions_total [1-9]/m)
  t.match(metrics, new RegExp(`^registry_mirror_cache_max_bytes ${66 * MiB}$`, 'm'))

  const again = await makeTempDir('pull')
  t.teardown(again.remove)
  await skopeoCopy(`${mirror.host}/${images.big!.repo}:1`, again.path)
  await verifyDirLayout(again.path)
  t.pass('an evicted image is fetched again on demand')

  t.equal(await unpinImage(mirror.config, silentLogger, `${registry}/library/small:1`), true, 'unpinned')
  t.same(await listPins(mirror.config, silentLogger), [])
  // Pins stored before references had a registry name still count, shown and removed by any name.
  await mirror.app.index.pin('library/small:1', pin.digests)
  t.same(
    (await listPins(mirror.config, silentLogger)).map((p) => p.image),
    [`${registry}/library/small:1`],
  )
  t.equal(await unpinImage(mirror.config, silentLogger, 'library/small:1'), true, 'old pin unpinned')
  t.same(await listPins(mirror.config, silentLogger), [])
  await t.rejects(pinImage(mirror.config, silentLogger, 'library/never-pulled:1'), /not cached/)
  await t.rejects(pinImage(mirror.config, silentLogger, 'quay.io/x:1'), /registry quay\.io is not served/)
})

t.test('manifests go last', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const small = upstream.fixture.images.small!
  // Over the bound by the big layer alone: evicting it is enough to get under the low mark.
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { maxCacheSize: '256KiB' } })
  t.teardown(() => mirror.close())
  await http(`${mirror.url}/v2/${small.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  for (const blob of small.blobs) await download(`${mirror.url}/v2/${small.repo}/blobs/${blob.digest}`)
  await mirror.app.mirror.blobs.settled()
  await mirror.app.mirror.evictor.check()
  t.ok(await mirror.app.store.stat(small.digest), 'the manifest, the oldest entry, stayed')
  const layer = small.blobs.find((b) => b.size > MiB)!
  t.equal(await mirror.app.store.stat(layer.digest), undefined, 'a layer went instead')
  t.ok((await mirror.app.index.stats()).bytes <= 256 * 1024 * 0.8)
})

t.test('a blob being read is not evicted', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const big = upstream.fixture.images.big!
  const layer = big.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { maxCacheSize: '128MiB' } })
  t.teardown(() => mirror.close())
  await download(`${mirror.url}/v2/${big.repo}/blobs/${layer.digest}`)
  await mirror.app.mirror.blobs.settled()

  // 64 MiB does not fit in socket buffers: an unread response keeps the blob open.
  const held = await request(`${mirror.url}/v2/${big.repo}/blobs/${layer.digest}`)
  t.notOk((await held.body[Symbol.asyncIterator]().next()).done, 'the read has begun')
  await mirror.app.mirror.evictor.diskFull()
  t.ok(await mirror.app.store.stat(layer.digest), 'the layer being read stayed')
  held.body.destroy()
  // The server learns of the client's leaving in its own time, and says nothing of it.
  await waitFor(() => !mirror.app.mirror.blobs.inUse(layer.digest), 5000, 'the end of the read')
  await mirror.app.mirror.evictor.diskFull()
  t.equal(await mirror.app.store.stat(layer.digest), undefined, 'once the read ended, it could go')
})

t.test('the disk fills mid-blob: the client still gets its bytes, nothing partial stays, eviction runs', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const mount = await makeTempDir('full-disk')
  t.teardown(mount.remove)
  const cacheDir = join(mount.path, 'cache')
  await mkdir(cacheDir)
  await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', cacheDir])
  t.teardown(async () => {
    await run('umount', [cacheDir])
    await rm(cacheDir, { recursive: true, force: true })
  })
  const mirror = await startMirror({ upstream: upstream.registry.url, cacheDir })
  t.teardown(() => mirror.stop())
  const big = upstream.fixture.images.big!
  const layer = big.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const result = await download(`${mirror.url}/v2/${big.repo}/blobs/${layer.digest}`)
  t.equal(result.digest, layer.digest, 'the client got every byte, verified')
  await mirror.app.mirror.blobs.settled()
  t.equal(await mirror.app.store.stat(layer.digest), undefined, 'nothing cached')
  t.same(await readdir(join(cacheDir, 'tmp')), [], 'no temp file left')
  t.match(
    mirror.logs.find((l) => l.msg === 'blob served but not cached'),
    { failure: 'disk_full' },
  )
  const metrics = (await http(`${mirror.url}/metrics`)).body.toString()
  t.match(metrics, /^registry_mirror_fill_failures_total\{reason="disk_full",upstream="[^"]+"\} 1$/m)
  const small = big.blobs.find((b) => b !== layer)!
  t.equal((await download(`${mirror.url}/v2/${big.repo}/blobs/${small.digest}`)).digest, small.digest)
  await mirror.app.mirror.blobs.settled()
  t.ok(await mirror.app.store.stat(small.digest), 'small blobs still cache')
})

t.test('pinning a tag skips the manifests of it that were evicted since', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const mirror = await startMirror({ upstream: upstream.registry.url })
  t.teardown(() => mirror.stop())
  const list = upstream.fixture.images.dlist!
  const url = `${mirror.url}/v2/${list.repo}/manifests/1`
  // Two kinds of client, two mappings of one tag: the list, and one platform's manifest.
  t.equal((await http(url, { headers: { accept: ACCEPT_ALL } })).status, 200)
  // A client that knows no manifest lists gets the default platform's manifest.
  const single = await http(url, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })
  t.equal(single.status, 200)
  const platform = String(single.headers['docker-content-digest'])
  t.not(platform, list.digest)
  await mirror.app.index.deleteBlob(platform)
  await mirror.app.store.delete(platform)
  const pin = await pinImage(mirror.config, silentLogger, `${list.repo}:1`)
  t.ok(pin.digests.includes(list.digest), 'the cached list is pinned')
})
