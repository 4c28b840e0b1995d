import { request } from 'undici'
import t from 'tap'
import { download } from '../helpers/http.js'
import { startStack } from '../helpers/setup.js'

t.test('ten concurrent pulls of one cold blob make one upstream fetch', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.big!
  const blob = image.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`
  const results = await Promise.all(Array.from({ length: 10 }, () => download(url)))
  for (const result of results) {
    t.equal(result.status, 200)
    t.equal(result.digest, blob.digest)
  }
  t.equal(upstream.registry.blobGets(blob.digest).length, 1, 'one upstream fetch, not eleven')
  const outcomes = mirror.logs.filter((l) => l.msg === 'request').map((l) => l.outcome)
  t.equal(outcomes.filter((o) => o === 'miss').length, 1)
  t.equal(outcomes.filter((o) => o === 'coalesced').length, 9)
})

t.test('a client that leaves mid-blob: the fill finishes in the background and counts once', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.big!
  const blob = image.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const url = `${mirror.url}/v2/${image.repo}/blobs/${blob.digest}`
  const controller = new AbortController()
  const response = await request(url, { signal: controller.signal })
  let received = 0
  await t.rejects(
    (async () => {
      for await (const chunk of response.body) {
        received += (chunk as Buffer).length
        if (received > 1024 * 1024) controller.abort()
      }
    })(),
  )
  t.ok(received < blob.size, 'the client left early')
  // The fill is still running or done; either way the next pull needs no new fetch.
  const again = await download(url)
  t.equal(again.digest, blob.digest)
  t.equal(upstream.registry.blobGets(blob.digest).length, 1, 'the abandoned fill was reused')
  await mirror.app.mirror.blobs.settled()
  t.ok(await mirror.app.store.stat(blob.digest), 'and it is cached')
})
