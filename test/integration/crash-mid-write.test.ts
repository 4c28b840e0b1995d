import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { download } from '../helpers/http.js'
import { spawnMirror } from '../helpers/mirror-process.js'
import { startStack } from '../helpers/setup.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test('a mirror killed mid-write leaves no partial blob, and sweeps its temp file at start', async (t) => {
  const { upstream, proxy } = await startStack(t, { faultProxy: true })
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)
  const blob = upstream.fixture.images.big!.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const hex = blob.digest.slice('sha256:'.length)
  const finalPath = join(cache.path, 'blobs', 'sha256', hex.slice(0, 2), hex)

  const first = await spawnMirror(['--upstream', proxy!.url, '--cache-dir', cache.path])
  t.teardown(() => first.service.kill())
  proxy!.setFault({ kind: 'throttle', bytesPerSecond: 16 * 1024 * 1024 })
  const pending = download(`${first.url}/v2/library/big/blobs/${blob.digest}`)
  await proxy!.forwarded(8 * 1024 * 1024)
  await first.service.kill()
  const cut = await pending
  t.ok(cut.error, 'the client saw the transfer fail')
  const temps = await readdir(join(cache.path, 'tmp'))
  t.equal(temps.length, 1, 'the partial write is in tmp/')
  t.ok((await stat(join(cache.path, 'tmp', temps[0]!))).size < blob.size)
  await t.rejects(stat(finalPath), { code: 'ENOENT' }, 'and never under its digest')

  proxy!.setFault(undefined)
  const second = await spawnMirror(['--upstream', proxy!.url, '--cache-dir', cache.path])
  t.teardown(() => second.service.close())
  t.same(await readdir(join(cache.path, 'tmp')), [], 'the restart swept it')
  const pulled = await download(`${second.url}/v2/library/big/blobs/${blob.digest}`)
  t.equal(pulled.digest, blob.digest, 'the next pull succeeds')
})
