import t from 'tap'
import { download, http, sha256 } from '../helpers/http.js'
import { startStack } from '../helpers/setup.js'

t.test('blob GET, HEAD and Range on cached and uncached blobs', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.small!
  const blob = image.blobs.find((b) => b.size > 1024 * 1024)!
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`

  const headCold = await http(url, { method: 'HEAD' })
  t.equal(headCold.status, 200)
  t.equal(headCold.headers['content-length'], String(blob.size), 'HEAD of an uncached blob')
  t.equal(headCold.headers['docker-content-digest'], blob.digest)
  t.equal(upstream.registry.blobGets(blob.digest).length, 0, 'a HEAD starts no download')

  const coldRange = await http(url, { headers: { range: 'bytes=1000-1999' } })
  t.equal(coldRange.status, 206, 'a Range on an uncached blob gets 206 at once')
  t.equal(coldRange.headers['content-range'], `bytes 1000-1999/${blob.size}`)
  t.equal(coldRange.headers['content-length'], '1000')
  t.equal(coldRange.headers['accept-ranges'], 'bytes')
  t.equal(coldRange.body.length, 1000)

  const full = await http(url)
  t.equal(full.status, 200)
  t.equal(sha256(full.body), blob.digest)
  t.equal(full.headers['content-length'], String(blob.size))
  t.equal(full.headers['docker-content-digest'], blob.digest)
  t.same(coldRange.body, full.body.subarray(1000, 2000), 'the range held the right bytes')
  t.equal(upstream.registry.blobGets(blob.digest).length, 1, 'the range request started the one full fill')

  const warmRange = await http(url, { headers: { range: 'bytes=1000-1999' } })
  t.equal(warmRange.status, 206)
  t.same(warmRange.body, coldRange.body)

  const resume = await http(url, { headers: { range: `bytes=${blob.size - 10}-` } })
  t.equal(resume.status, 206, 'Docker resumes a broken layer with bytes=N-')
  t.equal(resume.headers['content-range'], `bytes ${blob.size - 10}-${blob.size - 1}/${blob.size}`)
  t.same(resume.body, full.body.subarray(blob.size - 10))

  const suffix = await http(url, { headers: { range: 'bytes=-5' } })
  t.same(suffix.body, full.body.subarray(blob.size - 5))

  const unsatisfiable = await http(url, { headers: { range: `bytes=${blob.size}-` } })
  t.equal(unsatisfiable.status, 416)
  t.equal(unsatisfiable.headers['content-range'], `bytes */${blob.size}`)
  t.match(JSON.parse(unsatisfiable.body.toString()), { errors: [{ code: 'RANGE_INVALID' }] })

  const headWarm = await http(url, { method: 'HEAD' })
  t.equal(headWarm.headers['content-length'], String(blob.size))
  t.equal(headWarm.headers['accept-ranges'], 'bytes')

  const cached = await http(url, { headers: { 'if-none-match': `"${blob.digest}"` } })
  t.equal(cached.status, 304)
  t.equal(upstream.registry.blobGets(blob.digest).length, 1, 'every later request came from disk')
})

t.test('parallel Range chunks of a cold blob, as containerd fetches big layers', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.big!
  const blob = image.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`
  const chunk = Math.ceil(blob.size / 8)
  const parts = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const start = i * chunk
      const end = Math.min(blob.size, start + chunk) - 1
      const result = await http(url, { headers: { range: `bytes=${start}-${end}` } })
      t.equal(result.status, 206)
      t.equal(result.headers['content-range'], `bytes ${start}-${end}/${blob.size}`)
      return result.body
    }),
  )
  t.equal(sha256(Buffer.concat(parts)), blob.digest, 'the chunks reassemble to the blob')
  t.equal(upstream.registry.blobGets(blob.digest).length, 1, 'one upstream fetch for all chunks')
})

t.test('a blob the upstream does not have is BLOB_UNKNOWN, and nothing is left behind', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const absent = `sha256:${'1'.repeat(64)}`
  const result = await download(`${mirror.url}/v2/library/small/blobs/${absent}`)
  t.equal(result.status, 404)
  t.equal(mirror.app.mirror.blobs.inFlight, 0)
  t.equal(await mirror.app.store.stat(absent), undefined)
  t.ok(upstream.registry.blobGets(absent).length >= 1)
})
