import t from 'tap'
import { ALICE, basic, bearer } from '../helpers/credentials.js'
import { http, json, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test('realm unreachable: credentials get a clear 503, anonymous clients a mirror-local token', async (t) => {
  const { upstream, mirror } = await startStack(t)
  // The mirror learns the realm first, as it would in service.
  t.equal((await http(`${mirror.url}/v2/`)).status, 401)
  await upstream.tokens.close()
  const url = `${mirror.url}/token?service=test-registry&scope=repository:library/small:pull`

  const started = Date.now()
  const withCredentials = await http(url, { headers: { authorization: basic(ALICE) } })
  t.equal(withCredentials.status, 503)
  t.match(JSON.parse(withCredentials.body.toString()), { errors: [{ code: 'UNAVAILABLE' }] })
  t.ok(Date.now() - started < 5_000, 'answered at once, not after a hang')

  const grant = await http(`${mirror.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      service: 'test-registry',
      scope: 'repository:library/small:pull',
      username: ALICE.user,
      password: ALICE.password,
    }).toString(),
  })
  t.equal(grant.status, 503, "containerd's password grant, credentials in the form: a 503 too")

  const anonymous = await json(url)
  t.equal(anonymous.status, 200)
  t.match(anonymous.body, { token: /^registry-mirror-local\./, expires_in: 300 })
})

t.test('a mirror-local token never goes upstream, on forwarded writes and reads alike', async (t) => {
  const { upstream, mirror, proxy } = await startStack(t, { faultProxy: true })
  t.equal((await http(`${mirror.url}/v2/`)).status, 401)
  await upstream.tokens.close()
  const local = (await json(`${mirror.url}/token?service=test-registry&scope=repository:library/small:push`)).body as {
    token: string
  }
  t.match(local.token, /^registry-mirror-local\./)
  const seen = proxy!.requests.length
  await http(`${mirror.url}/v2/library/small/blobs/uploads/`, { method: 'POST', headers: bearer(local.token) })
  await http(`${mirror.url}/v2/_catalog`, { headers: bearer(local.token) })
  const forwarded = proxy!.requests.slice(seen)
  t.ok(
    forwarded.some((r) => r.method === 'POST'),
    'the write went upstream',
  )
  t.ok(
    forwarded.some((r) => r.path.startsWith('/v2/_catalog')),
    'and the read',
  )
  t.ok(
    forwarded.every((r) => r.authorization === undefined),
    'without the token',
  )
})

t.test('upstream and token server both down: cached public images still pull, nothing else does', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const small = upstream.fixture.images.small!
  const warm = await makeTempDir('pull')
  t.teardown(warm.remove)
  await skopeoCopy(`${mirror.host}/${small.repo}:1`, warm.path)

  await upstream.stopRegistry()
  await upstream.tokens.close()

  const offline = await makeTempDir('pull')
  t.teardown(offline.remove)
  await skopeoCopy(`${mirror.host}/${small.repo}:1`, offline.path)
  const digests = await verifyDirLayout(offline.path)
  t.ok(
    small.blobs.every((b) => digests.includes(b.digest)),
    'skopeo pulled through ping → mirror-local token → cache',
  )
  const local = (await json(`${mirror.url}/token?service=test-registry&scope=repository:library/small:pull`)).body as {
    token: string
  }
  const manifest = await http(`${mirror.url}/v2/${small.repo}/manifests/${small.digest}`, {
    headers: { ...bearer(local.token), accept: ACCEPT_ALL },
  })
  t.equal(sha256(manifest.body), small.digest, 'and raw clients with a mirror-local token too')

  const secret = upstream.fixture.images.private!
  const refused = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, { headers: bearer(local.token) })
  t.equal(refused.status, 503, 'nothing unverified is served: a private repository needs the upstream')
  await upstream.restartRegistry()
})
