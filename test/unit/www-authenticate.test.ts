import t from 'tap'
import { findBearer, parseWwwAuthenticate } from '../../src/auth/www-authenticate.js'

t.test("Docker Hub's challenge, with a comma inside a quoted scope", async (t) => {
  const header =
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"'
  t.same(parseWwwAuthenticate(header), [
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/alpine:pull,push',
      },
    },
  ])
})

t.test("Distribution's insufficient-scope challenge", async (t) => {
  const header =
    'Bearer realm="http://127.0.0.1:5001/token",service="test-registry",scope="repository:private/x:pull",error="insufficient_scope"'
  t.same(findBearer(header), {
    realm: 'http://127.0.0.1:5001/token',
    service: 'test-registry',
    scope: 'repository:private/x:pull',
    error: 'insufficient_scope',
  })
})

t.test('several challenges, in one header or several', async (t) => {
  const header = 'Basic realm="Registry Realm", Bearer realm="https://a/token",service="s"'
  const parsed = parseWwwAuthenticate(header)
  t.same(
    parsed.map((c) => c.scheme),
    ['basic', 'bearer'],
  )
  t.same(parsed[0]?.params, { realm: 'Registry Realm' })
  t.same(findBearer(['Basic realm="x"', 'Bearer realm="https://b/token"']), {
    realm: 'https://b/token',
    service: undefined,
    scope: undefined,
    error: undefined,
  })
})

t.test('escapes, spacing, case and missing fields', async (t) => {
  t.same(parseWwwAuthenticate('BEARER Realm = "a\\"b" , Service=svc'), [
    { scheme: 'bearer', params: { realm: 'a"b', service: 'svc' } },
  ])
  t.same(parseWwwAuthenticate('Bearer'), [{ scheme: 'bearer', params: {} }])
  t.equal(findBearer('Bearer service="x"'), undefined, 'no realm: not usable')
  t.equal(findBearer('Basic realm="x"'), undefined)
  t.same(parseWwwAuthenticate(''), [])
  t.same(parseWwwAuthenticate(undefined), [])
  t.same(parseWwwAuthenticate('Bearer realm=https://unquoted/token,service=s'), [
    { scheme: 'bearer', params: { realm: 'https://unquoted/token', service: 's' } },
  ])
  t.same(parseWwwAuthenticate('Bearer realm="unterminated'), [{ scheme: 'bearer', params: { realm: 'unterminated' } }])
  t.same(parseWwwAuthenticate('Negotiate abc123==, Bearer realm="r"'), [
    { scheme: 'negotiate', params: {} },
    { scheme: 'bearer', params: { realm: 'r' } },
  ])
})
