import t from 'tap'
import { ALICE, bearer, tokenVia } from '../helpers/credentials.js'
import { download, http, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL, SEED_PASSWORD, SEED_USER } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { skopeo } from '../helpers/skopeo.js'
import { hubLikePolicy } from '../helpers/token-server.js'

t.test('a repository that turns private upstream stops being served from cache once its verdict expires', async (t) => {
  const closed = new Set<string>()
  let clock = Date.now()
  const { upstream, mirror } = await startStack(t, {
    now: () => clock,
    settings: { verdictTtl: 600 },
    tokens: {
      policy: (user, repository, actions) =>
        closed.has(repository) && user !== ALICE.user ? [] : hubLikePolicy(user, repository, actions),
    },
  })
  const host = upstream.registry.url.slice('http://'.length)
  const creds = `${SEED_USER}:${SEED_PASSWORD}`
  await skopeo([
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    '--src-creds',
    creds,
    '--dest-creds',
    creds,
    `docker://${host}/library/small:1`,
    `docker://${host}/public/app:1`,
  ])
  const small = upstream.fixture.images.small!
  const layer = small.blobs.at(-1)!

  const first = await http(`${mirror.url}/v2/public/app/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(first.status, 200)
  t.equal((await download(`${mirror.url}/v2/public/app/blobs/${layer.digest}`)).digest, layer.digest)
  await mirror.app.mirror.blobs.settled()

  closed.add('public/app')
  const withinTtl = await http(`${mirror.url}/v2/public/app/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(withinTtl.status, 200, 'within the verdict TTL the cache still answers')

  clock += 601_000
  const anonymous = await http(`${mirror.url}/v2/public/app/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(anonymous.status, 401, 'after it, an anonymous client is refused')
  const blob = await http(`${mirror.url}/v2/public/app/blobs/${layer.digest}`)
  t.equal(blob.status, 401, 'even for a blob the cache holds')
  t.match(await mirror.app.index.getVerdict(mirror.config.upstream.name, 'public/app'), { isPublic: false })

  const token = await tokenVia(mirror.url, 'public/app', ALICE)
  const allowed = await http(`${mirror.url}/v2/public/app/blobs/${layer.digest}`, { headers: bearer(token) })
  t.equal(allowed.status, 200, 'an authorised client still gets it')
  t.equal(sha256(allowed.body), layer.digest)
})

t.test('an auth service that refuses the anonymous check makes the repository private, not "unknown"', async (t) => {
  const closed = new Set<string>()
  let clock = Date.now()
  // The mirror's own account can read everything: it must still never fetch for anonymous clients.
  const { upstream, mirror } = await startStack(t, {
    now: () => clock,
    settings: { verdictTtl: 600, upstreamUsername: SEED_USER, upstreamPassword: SEED_PASSWORD },
    tokens: {
      refuseEmptyAnonymous: true,
      policy: (user, repository, actions) =>
        closed.has(repository) && user === undefined ? [] : hubLikePolicy(user, repository, actions),
    },
  })
  const small = upstream.fixture.images.small!
  const first = await http(`${mirror.url}/v2/${small.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(first.status, 200, 'public while anonymous pulls are granted')

  closed.add(small.repo)
  clock += 601_000
  const refused = await http(`${mirror.url}/v2/${small.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.equal(refused.status, 401, "the auth service's refusal is a verdict, so the old one does not stand")
  t.match(await mirror.app.index.getVerdict(mirror.config.upstream.name, small.repo), { isPublic: false })
})
