import t from 'tap'
import { request } from 'undici'
import { findBearer } from '../../src/auth/www-authenticate.js'
import { http, json, sha256 } from '../helpers/http.js'
import { SEED_PASSWORD, SEED_USER } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { skopeo } from '../helpers/skopeo.js'

const creds = ['--dest-creds', `${SEED_USER}:${SEED_PASSWORD}`, '--dest-tls-verify=false']

t.test('tag lists are paged by n and last with a Link header, though Distribution 2.8 ignores both', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const host = upstream.registry.url.slice('http://'.length)
  for (const tag of ['2.0', 'a', 'b', 'latest']) {
    await skopeo([
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--src-creds',
      `${SEED_USER}:${SEED_PASSWORD}`,
      ...creds,
      `docker://${host}/library/small:1`,
      `docker://${host}/library/small:${tag}`,
    ])
  }
  const all = await json(`${mirror.url}/v2/library/small/tags/list`)
  t.same(all.body, { name: 'library/small', tags: ['1', '2.0', 'a', 'b', 'latest'] })

  const first = await http(`${mirror.url}/v2/library/small/tags/list?n=2`)
  t.same(JSON.parse(first.body.toString()), { name: 'library/small', tags: ['1', '2.0'] })
  t.equal(first.headers.link, '</v2/library/small/tags/list?n=2&last=2.0>; rel="next"')
  const second = await http(`${mirror.url}/v2/library/small/tags/list?n=2&last=2.0`)
  t.same(JSON.parse(second.body.toString()), { name: 'library/small', tags: ['a', 'b'] })
  const third = await http(`${mirror.url}/v2/library/small/tags/list?n=2&last=b`)
  t.same(JSON.parse(third.body.toString()), { name: 'library/small', tags: ['latest'] })
  t.equal(third.headers.link, undefined, 'no Link on the last page')

  // Like Docker Hub, an absent repository looks private: the anonymous client is challenged…
  const missing = await http(`${mirror.url}/v2/library/nothing-here/tags/list`)
  t.equal(missing.status, 401)
  t.match(missing.headers['www-authenticate'], `realm="${mirror.url}/token"`)
  // …and one with credentials learns it is not there.
  const basic = Buffer.from(`${SEED_USER}:${SEED_PASSWORD}`).toString('base64')
  const tokenUrl = `${mirror.url}/token?service=test-registry&scope=repository:library/nothing-here:pull`
  const { token } = (await json(tokenUrl, { authorization: `Basic ${basic}` })).body as { token: string }
  const known = await http(`${mirror.url}/v2/library/nothing-here/tags/list`, {
    headers: { authorization: `Bearer ${token}` },
  })
  t.equal(known.status, 404)
  t.match(JSON.parse(known.body.toString()), { errors: [{ code: 'NAME_UNKNOWN' }] })
})

t.test('referrers are passed through (Distribution 2.8 has none: its 404 is relayed)', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const image = upstream.fixture.images.small!
  const result = await http(`${mirror.url}/v2/${image.repo}/referrers/${image.digest}?artifactType=x`)
  t.equal(result.status, 404)
  t.match(JSON.parse(result.body.toString()), { errors: [{ code: /./ }] })
  t.ok(upstream.registry.accessLog().some((e) => e.path.startsWith(`/v2/${image.repo}/referrers/`)))
})

t.test('a push through the mirror is forwarded to the upstream, and nothing of it is cached', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const repo = 'public/pushed'
  const data = Buffer.from('pushed through the mirror')
  const digest = sha256(data)

  const challenge = await http(`${mirror.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  t.equal(challenge.status, 401, "the upstream's challenge is relayed")
  const bearer = findBearer(challenge.headers['www-authenticate'])!
  t.equal(bearer.realm, `${mirror.url}/token`, "the challenge names the mirror's token endpoint")
  const basic = Buffer.from(`${SEED_USER}:${SEED_PASSWORD}`).toString('base64')
  const tokenUrl = `${bearer.realm}?service=${bearer.service}&scope=${encodeURIComponent(bearer.scope!)}`
  const { token } = (await json(tokenUrl, { authorization: `Basic ${basic}` })).body as { token: string }
  const auth = { authorization: `Bearer ${token}` }

  const started = await http(`${mirror.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: auth })
  t.equal(started.status, 202)
  const location = started.headers.location as string
  t.match(location, /^\/v2\/public\/pushed\/blobs\/uploads\//, 'Location made relative: the client stays on the mirror')
  const put = await request(`${mirror.url}${location}&digest=${digest}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    body: data,
  })
  await put.body.dump()
  t.equal(put.statusCode, 201, 'the upload completed upstream')
  t.ok(upstream.registry.accessLog().some((e) => e.method === 'PUT' && e.status === 201))
  t.equal(await mirror.app.store.stat(digest), undefined, 'pushed bytes are not cached')

  const pulled = await http(`${mirror.url}/v2/${repo}/blobs/${digest}`)
  t.same(pulled.body, data, 'and can be pulled back through the mirror')
})

t.test('skopeo pushes through the mirror: the ping sends it to the token endpoint with its credentials', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const host = upstream.registry.url.slice('http://'.length)
  const from = `docker://${host}/library/small:1`
  await skopeo(['copy', '--quiet', '--src-tls-verify=false', ...creds, from, `docker://${mirror.host}/public/app:v2`])
  t.ok(
    upstream.registry
      .accessLog()
      .some((e) => e.method === 'PUT' && e.path === '/v2/public/app/manifests/v2' && e.status === 201),
  )
  t.ok(upstream.tokens.requests.some((r) => r.user === SEED_USER && r.scopes.some((s) => s.includes('public/app'))))
})

t.test('GETs the mirror does not model are forwarded (the catalog)', async (t) => {
  const { mirror } = await startStack(t)
  const catalog = await http(`${mirror.url}/v2/_catalog`)
  t.equal(catalog.status, 401, "the upstream's own answer: the catalog needs credentials")
  t.match(catalog.headers['www-authenticate'], /^Bearer realm=/)
})
