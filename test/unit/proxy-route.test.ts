import t from 'tap'
import { environmentProxy, proxyUrlOf } from '../../src/config/proxy.js'
import { describeProxy, noProxyMatcher, proxyRoute, redactedProxy } from '../../src/http/proxy-route.js'

t.test('NO_PROXY entries, as curl reads them', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['*', 'https://registry-1.docker.io/v2/', true],
    ['docker.io', 'https://registry-1.docker.io/v2/', true],
    ['.docker.io', 'https://registry-1.docker.io/v2/', true],
    ['*.docker.io', 'https://docker.io/v2/', true],
    ['docker.io', 'https://notdocker.io/v2/', false],
    ['DOCKER.IO', 'https://auth.docker.io/token', true],
    ['ghcr.io, quay.io', 'https://quay.io/v2/', true],
    ['ghcr.io quay.io', 'https://quay.io/v2/', true],
    ['registry.local:5000', 'http://registry.local:5000/v2/', true],
    ['registry.local:5000', 'http://registry.local:5001/v2/', false],
    ['registry.local:443', 'https://registry.local/v2/', true],
    ['registry.local:80', 'https://registry.local/v2/', false],
    ['10.0.0.0/8', 'http://10.1.2.3:5000/v2/', true],
    ['10.0.0.0/8', 'http://11.1.2.3:5000/v2/', false],
    ['10.0.0.0/8', 'http://host10.example/v2/', false],
    ['127.0.0.1', 'http://127.0.0.1:5000/v2/', true],
    ['0.0.1', 'http://127.0.0.1:5000/v2/', false],
    ['::1', 'http://[::1]:5000/v2/', true],
    ['[::1]:5000', 'http://[::1]:5000/v2/', true],
    ['fd00::/8', 'http://[fd12::1]/v2/', true],
    ['10.0.0.0/40', 'http://10.1.2.3/v2/', false],
    ['', 'https://ghcr.io/v2/', false],
  ]
  for (const [noProxy, url, exempt] of table) {
    t.equal(noProxyMatcher([noProxy])(new URL(url)), exempt, `${JSON.stringify(noProxy)} → ${url}`)
  }
})

t.test('a policy routes each URL by its scheme and NO_PROXY', async (t) => {
  const http = 'http://proxy.example:3128/'
  const https = 'http://tls-proxy.example:3128/'
  const env = proxyRoute({ kind: 'environment', http, https, noProxy: ['.internal'] })
  t.equal(env(new URL('http://registry.example/v2/'))?.href, http)
  t.equal(env(new URL('https://registry.example/v2/'))?.href, https)
  t.equal(env(new URL('https://cache.internal/v2/')), undefined, 'exempt')
  const httpOnly = proxyRoute({ kind: 'environment', http, https: undefined, noProxy: [] })
  t.equal(httpOnly(new URL('https://registry.example/v2/')), undefined, 'no HTTPS_PROXY: https goes direct')
  const fixed = proxyRoute({ kind: 'fixed', proxy: http })
  t.equal(fixed(new URL('https://cache.internal/v2/'))?.href, http, 'a fixed proxy takes every request')
  t.equal(proxyRoute({ kind: 'direct' })(new URL('https://ghcr.io/v2/')), undefined)
})

t.test('proxy URLs as the configuration takes them', async (t) => {
  const table: Array<[string, string | undefined]> = [
    ['http://proxy.example:3128', 'http://proxy.example:3128/'],
    ['http://proxy.example:3128/', 'http://proxy.example:3128/'],
    ['proxy.example:3128', 'http://proxy.example:3128/'],
    ['https://proxy.example', 'https://proxy.example/'],
    ['http://u%40x:p%3Ass@proxy.example:3128', 'http://u%40x:p%3Ass@proxy.example:3128/'],
    ['socks5://proxy.example:1080', undefined],
    ['http://proxy.example:3128/path', undefined],
    ['http://proxy.example:3128/?q=1', undefined],
    ['http://', undefined],
  ]
  for (const [value, expected] of table) t.equal(proxyUrlOf(value), expected, value)
})

t.test('the environment: lower case first, empty is unset, bad values are problems', async (t) => {
  t.same(environmentProxy({}), { policy: { kind: 'direct' }, problems: [] })
  t.same(environmentProxy({ HTTP_PROXY: '', NO_PROXY: 'x' }).policy, { kind: 'direct' }, 'NO_PROXY alone is nothing')
  t.same(environmentProxy({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1', NO_PROXY: 'a, b' }).policy, {
    kind: 'environment',
    https: 'http://lower:1/',
    http: undefined,
    noProxy: ['a', 'b'],
  })
  const bad = environmentProxy({ HTTPS_PROXY: 'ftp://user:secret@proxy' })
  t.same(bad.problems, ['HTTPS_PROXY: must be the http URL of a proxy, like http://proxy.example:3128'])
  t.notOk(bad.problems.join().includes('secret'), 'the value is not repeated')
})

t.test('proxy URLs in logs lose their credentials', async (t) => {
  t.equal(redactedProxy('http://user:secret@proxy.example:3128/'), 'http://***@proxy.example:3128')
  t.equal(redactedProxy('http://proxy.example:3128/'), 'http://proxy.example:3128')
  t.equal(describeProxy({ kind: 'direct' }), 'none')
  t.equal(
    describeProxy({ kind: 'environment', http: 'http://a:b@p:1/', https: undefined, noProxy: ['.internal'] }),
    'environment: http via http://***@p:1; not for .internal',
  )
})
