import { access, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { registryBlobPath } from '../helpers/cache-assertions.js'
import { download, http } from '../helpers/http.js'
import { spawnMirror, type MirrorProcess } from '../helpers/mirror-process.js'
import { startRegistry, settledAccessLog, type Registry } from '../helpers/registry.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { makeTestCa } from '../helpers/tls-ca.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/**
 * Docker Hub and every other public registry are HTTPS. The upstream here is CNCF
 * Distribution serving the seeded storage over TLS with a certificate from a CA made for
 * the test, which the mirror process trusts through NODE_EXTRA_CA_CERTS, as a site
 * would for a registry with a private CA.
 */
interface TlsStack {
  upstream: Upstream
  /** Distribution over TLS, on the seeded upstream's storage and token server. */
  tls: Registry
  mirror: MirrorProcess
  cacheDir: string
}

async function startTlsStack(t: Test): Promise<TlsStack> {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const ca = await makeTestCa()
  t.teardown(ca.remove)
  const certificate = await ca.issue('upstream')
  const tls = await startRegistry({
    storageDir: upstream.storageDir,
    tokenServer: upstream.tokens,
    tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, ca: ca.ca },
  })
  t.teardown(tls.close)
  t.match(tls.url, /^https:/)
  const cache = await makeTempDir('tls-upstream-cache')
  t.teardown(cache.remove)
  const mirror = await spawnMirror(['--upstream', tls.url, '--cache-dir', cache.path], {
    NODE_EXTRA_CA_CERTS: ca.caFile,
  })
  t.teardown(mirror.service.close)
  return { upstream, tls, mirror, cacheDir: cache.path }
}

function cachedBlobPath(cacheDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return join(cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex)
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

/** A counter's total over all its label sets, from the mirror's /metrics; it must be exported. */
async function metricTotal(t: Test, mirror: MirrorProcess, name: string): Promise<number> {
  const text = (await http(`${mirror.url}/metrics`)).body.toString()
  t.match(text, `# HELP ${name} `, `${name} is exported`)
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
}

t.test('an image pulled through the mirror from an HTTPS upstream arrives whole and is cached', async (t) => {
  const { upstream, tls, mirror, cacheDir } = await startTlsStack(t)
  const image = upstream.fixture.images.small!
  const out = await makeTempDir('tls-pulled')
  t.teardown(out.remove)
  await skopeoCopy(`127.0.0.1:${mirror.port}/${image.repo}:${image.tag}`, out.path)
  const pulled = await verifyDirLayout(out.path)
  for (const blob of image.blobs) {
    t.ok(pulled.includes(blob.digest), `${blob.digest} pulled`)
    t.ok(await exists(cachedBlobPath(cacheDir, blob.digest)), `${blob.digest} cached`)
  }
  const gets = (await settledAccessLog(tls)).filter((e) => e.method === 'GET' && e.path.includes('/blobs/'))
  t.ok(gets.length >= image.blobs.length, 'the blobs came over TLS')
  // Blob bodies are read by the mirror's own transport over TLS too, never handed to undici.
  t.equal(
    await metricTotal(t, mirror, 'registry_mirror_upstream_transport_fallbacks_total'),
    0,
    'no transport fallback',
  )
})

t.test('concurrent cold pulls of one blob from an HTTPS upstream make one upstream GET', async (t) => {
  const { upstream, tls, mirror } = await startTlsStack(t)
  const image = upstream.fixture.images.big!
  const blob = image.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`
  const results = await Promise.all(Array.from({ length: 8 }, () => download(url)))
  for (const result of results) {
    t.equal(result.status, 200)
    t.equal(result.digest, blob.digest, 'every client got the whole blob')
  }
  await settledAccessLog(tls)
  t.equal(tls.blobGets(blob.digest).length, 1, 'one upstream GET, not eight')
})

/** Replaces a file without writing through it: the seeded storage is a copy of a template. */
async function replace(path: string, data: Buffer): Promise<void> {
  await writeFile(`${path}.new`, data)
  await rename(`${path}.new`, path)
}

t.test('a blob altered on the HTTPS upstream is refused: the client fails, nothing is cached', async (t) => {
  const { upstream, mirror, cacheDir } = await startTlsStack(t)
  const image = upstream.fixture.images.small!
  const blob = image.blobs.find((b) => b.size > 100 * 1024)!
  const path = registryBlobPath(upstream.storageDir, blob.digest)
  const original = await readFile(path)
  const altered = Buffer.from(original)
  altered[altered.length >> 1] = altered[altered.length >> 1]! ^ 0xff
  await replace(path, altered)
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`
  const failed = mirror.nextLog(/blob fill failed/)

  const result = await download(url)
  t.ok(result.error !== undefined, 'the transfer failed')
  t.ok(result.bytes < blob.size, 'the client never got a complete body')
  t.notOk(await exists(cachedBlobPath(cacheDir, blob.digest)), 'no cached file')
  t.same(await readdir(join(cacheDir, 'tmp')), [], 'no temp file left')
  t.match(JSON.parse(await failed), { failure: 'digest_mismatch', digest: blob.digest }, 'the mismatch is logged')

  await replace(path, original)
  const fixed = await download(url)
  t.equal(fixed.digest, blob.digest, 'once the upstream is right again, the pull succeeds')
})
