import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/load.js'

const PROXY = 'http://proxy.example:3128/'
const files: Record<string, string> = {
  '/etc/mirror.yaml': [
    'upstreamProxy: http://proxy.example:3128',
    'upstreams:',
    '  - { name: ghcr.io, url: "https://ghcr.io" }',
    '  - { name: lan.example, url: "http://lan.example:5000", proxy: none }',
    '  - { name: quay.io, url: "https://quay.io", proxy: "http://other.example:8080" }',
    '',
  ].join('\n'),
}

t.test('upstreamProxy applies to every upstream that does not set its own proxy', async (t) => {
  const config = loadConfig({ configFile: '/etc/mirror.yaml', readFile: (p) => files[p]!, env: {} })
  t.same(
    config.upstreams.map((u) => [u.name, u.proxy]),
    [
      ['docker.io', { kind: 'fixed', proxy: PROXY }],
      ['ghcr.io', { kind: 'fixed', proxy: PROXY }],
      ['lan.example', { kind: 'direct' }],
      ['quay.io', { kind: 'fixed', proxy: 'http://other.example:8080/' }],
    ],
  )
})

t.test('the environment, when upstreamProxy is unset', async (t) => {
  const env = {
    HTTPS_PROXY: 'proxy.example:3128',
    http_proxy: 'http://plain.example:3128',
    NO_PROXY: '.lan, 10.0.0.0/8',
  }
  const config = loadConfig({ env })
  t.same(config.upstream.proxy, {
    kind: 'environment',
    https: PROXY,
    http: 'http://plain.example:3128/',
    noProxy: ['.lan', '10.0.0.0/8'],
  })
  t.same(loadConfig({ env: { ...env, MIRROR_UPSTREAM_PROXY: 'none' } }).upstream.proxy, { kind: 'direct' })
  t.same(loadConfig({ env, flags: { upstreamProxy: 'http://flag.example:1' } }).upstream.proxy, {
    kind: 'fixed',
    proxy: 'http://flag.example:1/',
  })
})

t.test('bad proxies are reported with the other problems, never repeating the value', async (t) => {
  const attempt = () =>
    loadConfig({
      env: { MIRROR_UPSTREAM_PROXY: 'socks5://u:secret@proxy:1080', http_proxy: 'http://u:secret@proxy/x' },
      flags: { upstreams: [{ name: 'ghcr.io', url: 'https://ghcr.io', proxy: 'ftp://proxy' }], tagTtl: -1 },
    })
  t.throws(attempt, ConfigError)
  try {
    attempt()
  } catch (e) {
    const problems = (e as ConfigError).problems
    t.same(problems, [
      'tagTtl (MIRROR_TAG_TTL, --tag-ttl): Too small: expected number to be >=0',
      'upstreams[0].proxy (MIRROR_UPSTREAMS, --upstreams): must be the http URL of the proxy, like http://proxy.example:3128, or none',
      'upstreamProxy (MIRROR_UPSTREAM_PROXY, --upstream-proxy): must be the http URL of the proxy, like http://proxy.example:3128, or none',
      'http_proxy: must be the http URL of a proxy, like http://proxy.example:3128',
    ])
    t.notOk(problems.join('\n').includes('secret'))
  }
})
