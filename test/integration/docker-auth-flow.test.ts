import t from 'tap'
import { findBearer } from '../../src/auth/www-authenticate.js'
import { ALICE, basic, bearer } from '../helpers/credentials.js'
import { http, json, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

/** What the Docker daemon does against a mirror, step by step, for a private image. */
t.test("the Docker daemon's flow: ping challenge, token from the mirror with Basic credentials, pull", async (t) => {
  const { upstream, mirror } = await startStack(t)
  const secret = upstream.fixture.images.private!

  const ping = await http(`${mirror.url}/v2/`)
  t.equal(ping.status, 401)
  const challenge = findBearer(ping.headers['www-authenticate'])!
  t.equal(challenge.realm, `${mirror.url}/token`, 'the realm is the mirror itself')
  t.equal(challenge.service, 'test-registry', "the upstream's service is kept")

  const tokenUrl = `${challenge.realm}?service=${challenge.service}&scope=repository:${secret.repo}:pull`
  const answer = await json(tokenUrl, { authorization: basic(ALICE) })
  t.equal(answer.status, 200)
  const { token } = answer.body as { token: string }
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, "the realm's own JWT, unchanged")

  const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
    headers: { ...bearer(token), accept: ACCEPT_ALL },
  })
  t.equal(manifest.status, 200)
  t.equal(sha256(manifest.body), secret.digest)
  for (const blob of secret.blobs) {
    const body = await http(`${mirror.url}/v2/${secret.repo}/blobs/${blob.digest}`, { headers: bearer(token) })
    t.equal(sha256(body.body), blob.digest)
  }

  const wrong = await json(tokenUrl, { authorization: basic({ user: 'alice', password: 'wrong' }) })
  t.equal(wrong.status, 401, "the realm's refusal is relayed as it is")
})

t.test('an anonymous token gets a 401 whose challenge points back at the mirror', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const secret = upstream.fixture.images.private!
  const anonymous = await json(`${mirror.url}/token?service=test-registry&scope=repository:${secret.repo}:pull`)
  const { token } = anonymous.body as { token: string }
  const refused = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, { headers: bearer(token) })
  t.equal(refused.status, 401)
  const challenge = findBearer(refused.headers['www-authenticate'])!
  t.equal(challenge.realm, `${mirror.url}/token`)
  t.equal(challenge.scope, `repository:${secret.repo}:pull`)
  t.equal(challenge.error, 'insufficient_scope')
})

t.test('POST to the token endpoint (an OAuth2 password grant, as containerd sends) reaches the realm', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const secret = upstream.fixture.images.private!
  const before = upstream.tokens.requests.length
  const form = new URLSearchParams({
    grant_type: 'password',
    service: 'test-registry',
    scope: `repository:${secret.repo}:pull`,
    client_id: 'containerd-client',
    username: ALICE.user,
    password: ALICE.password,
  })
  const response = await http(`${mirror.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  })
  t.equal(response.status, 200)
  t.equal(upstream.tokens.requests.length, before + 1, 'relayed to the realm once')
  t.match(upstream.tokens.requests.at(-1), { user: ALICE.user, scopes: [`repository:${secret.repo}:pull`] })
  const { access_token: token } = JSON.parse(response.body.toString()) as { access_token: string }
  const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
    headers: { ...bearer(token), accept: ACCEPT_ALL },
  })
  t.equal(manifest.status, 200, "the realm's token opens the private repository through the mirror")
})

t.test('with the switch set, challenges keep the upstream realm', async (t) => {
  const { upstream, mirror } = await startStack(t, { settings: { authRealm: 'upstream' } })
  const ping = await http(`${mirror.url}/v2/`)
  t.equal(findBearer(ping.headers['www-authenticate'])?.realm, upstream.tokens.realm)
  const secret = upstream.fixture.images.private!
  const refused = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`)
  t.equal(findBearer(refused.headers['www-authenticate'])?.realm, upstream.tokens.realm)
})

t.test('MIRROR_PUBLIC_URL names the realm for clients behind a proxy', async (t) => {
  const { mirror } = await startStack(t, { settings: { publicUrl: 'https://mirror.example.internal/' } })
  const ping = await http(`${mirror.url}/v2/`)
  t.equal(findBearer(ping.headers['www-authenticate'])?.realm, 'https://mirror.example.internal/token')
})
