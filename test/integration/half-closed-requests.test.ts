import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { ALICE, tokenVia } from '../helpers/credentials.js'
import { download, http, sha256 } from '../helpers/http.js'
import { rawExchange } from '../helpers/raw-http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { waitFor } from '../helpers/wait.js'

t.test('a client that half-closes after its request still gets the whole answer', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const { small, multi, docker2 } = upstream.fixture.images
  const cachedBlob = small!.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  const coldBlob = docker2!.blobs.reduce((a, b) => (a.size > b.size ? a : b))
  // Warm what is meant to be cached, the way any client would.
  t.equal((await http(`${mirror.url}/v2/${small!.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })).status, 200)
  t.equal((await download(`${mirror.url}/v2/${small!.repo}/blobs/${cachedBlob.digest}`)).digest, cachedBlob.digest)
  await mirror.app.mirror.blobs.settled()

  const cases: Array<[string, string, string | undefined]> = [
    ['the ping', '/v2/', undefined],
    ['a cached manifest', `/v2/${small!.repo}/manifests/1`, small!.digest],
    ['an uncached manifest', `/v2/${multi!.repo}/manifests/1`, multi!.digest],
    ['a cached blob', `/v2/${small!.repo}/blobs/${cachedBlob.digest}`, cachedBlob.digest],
    ['an uncached blob', `/v2/${docker2!.repo}/blobs/${coldBlob.digest}`, coldBlob.digest],
  ]
  for (const [name, target, digest] of cases) {
    const request = `GET ${target} HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT_ALL}\r\n\r\n`
    const { responses, ended } = await rawExchange(mirror.url, request, { halfClose: true })
    t.equal(ended, 'closed', `${name}: the mirror closes once it has answered`)
    t.equal(responses.length, 1, `${name}: one whole answer`)
    if (digest === undefined) t.equal(responses[0]?.status, 401, `${name}: its challenge`)
    else {
      t.equal(responses[0]?.status, 200, `${name}: 200`)
      t.equal(sha256(responses[0]?.body ?? Buffer.alloc(0)), digest, `${name}: every byte`)
    }
  }
  await mirror.app.mirror.blobs.settled()
  t.ok(await mirror.app.store.stat(coldBlob.digest), 'the uncached blob was filled as usual')
  const logged = mirror.logs.filter((l) => l.msg === 'request' && l.aborted === true)
  t.same(logged, [], 'none of them counts as a client abort')
})

t.test('a reset is still an abort: a private pass-through stops at once', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  const secret = upstream.fixture.images.private!
  const token = await tokenVia(mirror.url, secret.repo, ALICE)
  // The upstream sends its headers and then nothing: only the client's leaving ends the wait.
  proxy!.setFault({ kind: 'stall', afterBytes: 0 }, (method, path) => method === 'GET' && path.includes('/manifests/'))
  const socket = connect(Number(new URL(mirror.url).port), '127.0.0.1')
  await once(socket, 'connect')
  socket.write(
    `GET /v2/${secret.repo}/manifests/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Accept: ${ACCEPT_ALL}\r\n\r\n`,
  )
  await waitFor(
    () => proxy!.requests.some((r) => r.method === 'GET' && r.path === `/v2/${secret.repo}/manifests/1`),
    10_000,
    'the pass-through reaching the upstream',
  )
  socket.resetAndDestroy()
  await waitFor(
    () => mirror.logs.some((l) => l.msg === 'request' && l.aborted === true),
    5_000,
    'the request ending as aborted',
  )
  await waitFor(
    () => mirror.logs.some((l) => /abort/i.test(JSON.stringify(l.err ?? ''))),
    5_000,
    'the pass-through giving up, long before any upstream timeout',
  )
})
