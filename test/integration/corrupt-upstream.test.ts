import { readFile, rename, writeFile } from 'node:fs/promises'
import t from 'tap'
import { assertNothingCached, registryBlobPath } from '../helpers/cache-assertions.js'
import { download, http, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

/** Replaces a file without writing through it, as the seeded storage is a copy of a template. */
async function replace(path: string, data: Buffer): Promise<void> {
  await writeFile(`${path}.new`, data)
  await rename(`${path}.new`, path)
}

t.test('an upstream that serves altered layer bytes: the client fails, nothing is cached', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.small!
  const blob = image.blobs.find((b) => b.size > 100 * 1024)!
  const path = registryBlobPath(upstream.storageDir, blob.digest)
  const original = await readFile(path)
  const altered = Buffer.from(original)
  const middle = altered.length >> 1
  altered[middle] = altered[middle]! ^ 0xff
  await replace(path, altered)
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`

  for (let attempt = 1; attempt <= 2; attempt++) {
    const result = await download(url)
    t.ok(result.error !== undefined, `attempt ${attempt}: the transfer failed`)
    t.ok(result.bytes < blob.size, 'the client never got a complete body')
    await assertNothingCached(t, mirror, blob.digest)
  }
  t.match(
    mirror.logs.find((l) => l.msg === 'blob fill failed'),
    { failure: 'digest_mismatch', digest: blob.digest },
    'the mismatch is logged',
  )

  await replace(path, original)
  const fixed = await download(url)
  t.equal(fixed.digest, blob.digest, 'once the upstream is right again, the pull succeeds')
  await mirror.app.mirror.blobs.settled()
  t.ok(await mirror.app.store.stat(blob.digest), 'and is cached')
})

t.test('an upstream that serves an altered manifest: 502, nothing cached', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.docker2!
  const path = registryBlobPath(upstream.storageDir, image.digest)
  const original = await readFile(path)
  await replace(path, Buffer.from(original.toString().replace('"schemaVersion":2', '"schemaVersion": 2')))
  for (const ref of [image.tag, image.digest]) {
    const result = await http(`${mirror.url}/v2/${image.repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL } })
    t.equal(result.status, 502, `by ${ref === image.tag ? 'tag' : 'digest'}`)
    t.match(JSON.parse(result.body.toString()), { errors: [{ code: 'UNKNOWN', message: /does not match/ }] })
  }
  t.equal(await mirror.app.store.stat(image.digest), undefined)
  t.equal(await mirror.app.index.getBlob(image.digest), undefined)
  await replace(path, original)
  const fixed = await http(`${mirror.url}/v2/${image.repo}/manifests/${image.tag}`, { headers: { accept: ACCEPT_ALL } })
  t.equal(sha256(fixed.body), image.digest)
})
