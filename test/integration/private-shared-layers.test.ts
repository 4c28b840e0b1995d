import t from 'tap'
import { ALICE, bearer, BOB, tokenVia } from '../helpers/credentials.js'
import { http, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

t.test(
  'a private image built on a public base: the base layer comes from the cache once the upstream says yes',
  async (t) => {
    const { upstream, mirror } = await startStack(t)
    const small = upstream.fixture.images.small!
    const secret = upstream.fixture.images.private!
    const shared = secret.blobs.find((b) => small.blobs.some((s) => s.digest === b.digest))!
    t.ok(shared, 'the fixture shares a layer')

    t.equal((await http(`${mirror.url}/v2/${small.repo}/blobs/${shared.digest}`)).status, 200)
    await mirror.app.mirror.blobs.settled()
    t.ok(await mirror.app.store.stat(shared.digest), 'cached from the public repository')

    const alice = await tokenVia(mirror.url, secret.repo, ALICE)
    const before = upstream.registry.blobGets(shared.digest).length
    const served = await http(`${mirror.url}/v2/${secret.repo}/blobs/${shared.digest}`, { headers: bearer(alice) })
    t.equal(served.status, 200)
    t.equal(sha256(served.body), shared.digest)
    t.equal(served.headers['cache-control'], 'private')
    t.equal(upstream.registry.blobGets(shared.digest).length, before, 'no bytes fetched again')
    t.ok(
      upstream.registry
        .accessLog()
        .some((e) => e.method === 'HEAD' && e.path === `/v2/${secret.repo}/blobs/${shared.digest}` && e.status === 200),
      "the upstream confirmed alice's access with a HEAD in her repository",
    )
    t.match(
      mirror.logs.findLast((l) => l.msg === 'request'),
      { outcome: 'hit', status: 200 },
    )

    const bob = await tokenVia(mirror.url, secret.repo, BOB)
    for (const headers of [{}, bearer(bob)]) {
      const refused = await http(`${mirror.url}/v2/${secret.repo}/blobs/${shared.digest}`, { headers })
      t.ok([401, 403].includes(refused.status), `cached or not, no confirmation means no bytes (${refused.status})`)
      t.equal(refused.body.toString().includes('errors'), true)
    }

    const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
      headers: { ...bearer(alice), accept: ACCEPT_ALL },
    })
    t.equal(sha256(manifest.body), secret.digest)
  },
)

t.test("the mirror's own upstream account never opens a private repository to anonymous clients", async (t) => {
  const { upstream, mirror } = await startStack(t, {
    settings: { upstreamUsername: ALICE.user, upstreamPassword: ALICE.password },
  })
  const secret = upstream.fixture.images.private!
  const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(manifest.status, 401)
  for (const blob of secret.blobs) {
    const refused = await http(`${mirror.url}/v2/${secret.repo}/blobs/${blob.digest}`)
    t.not(refused.status, 200)
  }
  const tags = await http(`${mirror.url}/v2/${secret.repo}/tags/list`)
  t.equal(tags.status, 401, 'not even the tag list')

  const pub = await http(`${mirror.url}/v2/library/small/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(pub.status, 200)
  t.ok(
    upstream.tokens.requests.some((r) => r.user === ALICE.user && r.scopes.includes('repository:library/small:pull')),
    "the mirror's account is used for public content",
  )
  t.notOk(
    upstream.tokens.requests.some((r) => r.user === ALICE.user && r.scopes.some((s) => s.includes(secret.repo))),
    "and never asked for the private repository's scope",
  )
})
