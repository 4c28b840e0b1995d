import t from 'tap'
import { Agent } from 'undici'
import { TokenSeal } from '../../src/auth/token-seal.js'
import { ignoreUpstream } from '../../src/http/upstream-observer.js'
import { RegistryAuth } from '../../src/mirror/access/registry-auth.js'
import type { UpstreamScheme } from '../../src/upstream/upstream-client.js'

const REALM = 'http://mirror:5000/token'
const BASIC: UpstreamScheme = { kind: 'basic', challenge: 'Basic realm="r"' }
const BEARER: UpstreamScheme = { kind: 'bearer', realm: 'https://auth.example/token', service: 'svc' }
const MIRROR_REALM = `Bearer realm="${REALM}"`

function auth(scheme: UpstreamScheme, beside: boolean, realmMode: 'mirror' | 'upstream' = 'mirror'): RegistryAuth {
  return new RegistryAuth({
    name: 'registry.example',
    upstream: {
      authScheme: async () => scheme,
      offline: false,
      send: () => Promise.reject(new Error('a ping asks the upstream nothing')),
    },
    seal: TokenSeal.fromSecret(undefined),
    beside,
    dispatcher: new Agent(),
    realmMode,
    timeoutMs: 1000,
    userAgent: 'test',
    observer: ignoreUpstream,
  })
}

t.test("the ping: a Basic or no-auth default beside other upstreams announces the mirror's realm", async (t) => {
  const anonymous = { kind: 'anonymous' } as const
  const cases: Array<[string, RegistryAuth, boolean, string | undefined]> = [
    ['Basic, alone', auth(BASIC, false), false, 'Basic realm="r"'],
    ['Basic, beside others', auth(BASIC, true), false, MIRROR_REALM],
    ['Basic, beside others, pinned by ns', auth(BASIC, true), true, 'Basic realm="r"'],
    ['Basic, beside others, realms left upstream', auth(BASIC, true, 'upstream'), false, 'Basic realm="r"'],
    ['no auth, alone', auth({ kind: 'none' }, false), false, undefined],
    ['no auth, beside others', auth({ kind: 'none' }, true), false, MIRROR_REALM],
    ['no auth, beside others, pinned by ns', auth({ kind: 'none' }, true), true, undefined],
    ['token auth, beside others', auth(BEARER, true), false, `${MIRROR_REALM},service="svc"`],
  ]
  for (const [what, registry, pinned, expected] of cases) {
    t.equal(await registry.pingChallenge(anonymous, REALM, pinned), expected, what)
  }
  const withCredentials = { kind: 'forward', authorization: 'Basic YTpi' } as const
  t.equal(await auth(BASIC, true).pingChallenge(withCredentials, REALM), undefined, 'credentials: a 200')
})
