import t from 'tap'
import { classifyAuthorization, issueMirrorLocalToken } from '../../src/auth/client-credentials.js'
import { formatChallenges, parseWwwAuthenticate, rewriteBearerRealm } from '../../src/auth/www-authenticate.js'
import { RegistryAuth } from '../../src/mirror/access/registry-auth.js'
import type { UpstreamScheme } from '../../src/upstream/upstream-client.js'
import { Agent } from 'undici'
import { TokenSeal } from '../../src/auth/token-seal.js'
import { ignoreUpstream } from '../../src/http/upstream-observer.js'

t.test('upstream challenges are rewritten to name the mirror, the rest kept', async (t) => {
  const hub =
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push",error="insufficient_scope"'
  t.equal(
    rewriteBearerRealm(hub, 'http://mirror:5000/token'),
    'Bearer realm="http://mirror:5000/token",service="registry.docker.io",scope="repository:library/alpine:pull,push",error="insufficient_scope"',
  )
  t.equal(rewriteBearerRealm('Basic realm="Registry"', 'http://mirror/token'), 'Basic realm="Registry"')
  t.same(parseWwwAuthenticate(formatChallenges([{ scheme: 'bearer', params: { realm: 'a"b\\c' } }])), [
    { scheme: 'bearer', params: { realm: 'a"b\\c' } },
  ])
})

t.test('client credentials: forwarded as they are, except a mirror-local token', async (t) => {
  t.same(classifyAuthorization(undefined), { kind: 'anonymous' })
  t.same(classifyAuthorization('  '), { kind: 'anonymous' })
  t.same(classifyAuthorization('Bearer eyJ.x.y'), { kind: 'forward', authorization: 'Bearer eyJ.x.y' })
  t.same(classifyAuthorization('Basic YTpi'), { kind: 'forward', authorization: 'Basic YTpi' })
  t.same(classifyAuthorization(`Bearer ${issueMirrorLocalToken()}`), { kind: 'anonymous' })
  t.same(classifyAuthorization(`bearer ${issueMirrorLocalToken()}`), { kind: 'anonymous' })
})

/** The upstream is never asked in these tests: none of them carries Basic credentials to check. */
const notAsked = () => Promise.reject(new Error('the upstream was asked'))

t.test('the ping: 200 without token auth or with credentials, else a challenge naming a reachable realm', async (t) => {
  const auth = (scheme: UpstreamScheme, realmMode: 'mirror' | 'upstream' = 'mirror', offline = false) =>
    new RegistryAuth({
      name: 'registry.example',
      upstream: { authScheme: async () => scheme, offline, send: notAsked },
      seal: TokenSeal.fromSecret(undefined),
      beside: false,
      dispatcher: new Agent(),
      realmMode,
      timeoutMs: 1000,
      userAgent: 'test',
      observer: ignoreUpstream,
    })
  const anonymous = { kind: 'anonymous' } as const
  const realm = 'http://mirror:5000/token'
  const bearer: UpstreamScheme = { kind: 'bearer', realm: 'https://auth.example/token', service: 'svc' }
  t.equal(await auth({ kind: 'none' }).pingChallenge(anonymous, realm), undefined)
  t.equal(await auth(bearer).pingChallenge({ kind: 'forward', authorization: 'Bearer x' }, realm), undefined)
  t.equal(await auth(bearer).pingChallenge(anonymous, realm), 'Bearer realm="http://mirror:5000/token",service="svc"')
  t.equal(
    await auth(bearer, 'upstream').pingChallenge(anonymous, realm),
    'Bearer realm="https://auth.example/token",service="svc"',
  )
  t.equal(
    await auth({ kind: 'basic', challenge: 'Basic realm="r"' }).pingChallenge(anonymous, realm),
    'Basic realm="r"',
  )
  t.equal(
    await auth({ kind: 'unreachable' }).pingChallenge(anonymous, realm),
    'Bearer realm="http://mirror:5000/token"',
    'upstream unreachable, the mirror still sends clients to its own token endpoint',
  )
  const configuredOffline = auth({ kind: 'unreachable' }, 'mirror', true)
  t.equal(await configuredOffline.pingChallenge(anonymous, realm), undefined, 'offline: 200, no challenge')
  const withCredentials = await configuredOffline.token({ method: 'GET', query: '', authorization: 'Basic x' })
  t.match(JSON.parse(withCredentials.body.toString()), { token: /^registry-mirror-local\./ }, 'offline: a local token')
  const offline = await auth({ kind: 'unreachable' }).token({ method: 'GET', query: '' })
  t.match(JSON.parse(offline.body.toString()), { token: /^registry-mirror-local\./ })
  await t.rejects(auth({ kind: 'unreachable' }).token({ method: 'GET', query: '', authorization: 'Basic x' }), {
    code: 'UNAVAILABLE',
    status: 503,
  })
  for (const scheme of [{ kind: 'none' }, { kind: 'basic', challenge: 'Basic realm="r"' }] as const) {
    const local = await auth(scheme).token({ method: 'GET', query: 'scope=repository:x:pull' })
    t.match(
      JSON.parse(local.body.toString()),
      { token: /^registry-mirror-local\./ },
      `${scheme.kind}: no realm, a local token`,
    )
  }
})
