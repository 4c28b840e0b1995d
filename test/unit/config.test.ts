import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { OPTIONS } from '../../src/config/options.js'

t.test('defaults: Docker Hub, port 5000, ./data, embedded index', async (t) => {
  const config = loadConfig()
  t.same(config.listen, { host: '0.0.0.0', port: 5000 })
  t.same(config.upstreams, [
    {
      name: 'docker.io',
      url: 'https://registry-1.docker.io',
      host: 'registry-1.docker.io',
      tagTtlSeconds: 300,
      verdictTtlSeconds: 600,
      credentials: undefined,
      defaultNamespace: 'library',
      offline: false,
      proxy: { kind: 'direct' },
    },
  ])
  t.equal(config.upstream, config.upstreams[0], 'the default upstream is the first')
  t.match(config.cacheDir, /\/data$/)
  t.equal(config.redisUrl, undefined)
  t.equal(config.logLevel, 'info')
  t.equal(config.upstream.tagTtlSeconds, 300)
  t.equal(config.upstream.defaultNamespace, 'library')
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.listen), 'frozen')
})

t.test('precedence: defaults < file < environment < flags', async (t) => {
  const files: Record<string, string> = {
    '/etc/mirror.yaml': 'listen: 127.0.0.1:6000\ntagTtl: 60\nlogLevel: warn\nupstream: https://dhe.example.com\n',
  }
  const config = loadConfig({
    configFile: '/etc/mirror.yaml',
    readFile: (p) => files[p]!,
    env: { MIRROR_TAG_TTL: '120', MIRROR_LOG_LEVEL: 'error', MIRROR_UNRELATED: 'x' },
    flags: { logLevel: 'debug' },
  })
  t.same(config.listen, { host: '127.0.0.1', port: 6000 }, 'from the file')
  t.equal(config.upstream.tagTtlSeconds, 120, 'env over file')
  t.equal(config.logLevel, 'debug', 'flag over env')
  t.equal(config.upstream.defaultNamespace, '', 'no library/ namespace for a non-Docker-Hub upstream')
})

t.test('a JSON config file, and MIRROR_CONFIG naming it', async (t) => {
  const config = loadConfig({
    env: { MIRROR_CONFIG: 'm.json' },
    readFile: () => '{"upstream": "http://127.0.0.1:5001/", "defaultNamespace": "library"}',
  })
  t.match(config.upstream, { url: 'http://127.0.0.1:5001', host: '127.0.0.1:5001', name: '127.0.0.1:5001' })
  t.equal(config.upstream.defaultNamespace, 'library')
})

t.test('every problem is reported at once, naming the variable and flag', async (t) => {
  const error = t.throws(() =>
    loadConfig({
      env: {
        MIRROR_LISTEN: 'nope',
        MIRROR_UPSTREAM: 'ftp://x',
        MIRROR_TAG_TTL: '-5',
        MIRROR_LOG_LEVEL: 'loud',
        MIRROR_REDIS_URL: 'not a url',
      },
    }),
  ) as ConfigError
  t.type(error, ConfigError)
  t.equal(error.problems.length, 5)
  t.match(error.message, /listen \(MIRROR_LISTEN, --listen\): must be host:port/)
  t.match(error.message, /upstream \(MIRROR_UPSTREAM, --upstream\)/)
  t.match(error.message, /tagTtl \(MIRROR_TAG_TTL, --tag-ttl\)/)
  t.match(error.message, /logLevel/)
  t.match(error.message, /redisUrl/)
})

t.test('unknown keys and broken files are errors, not silently ignored', async (t) => {
  t.throws(() => loadConfig({ configFile: 'x', readFile: () => 'cachedir: /x\n' }), /unknown setting: cachedir/)
  t.throws(() => loadConfig({ configFile: 'x', readFile: () => '- a\n- b\n' }), /must hold a mapping/)
  t.throws(() => loadConfig({ configFile: 'x', readFile: () => 'a: [\n' }), /config file x/)
  t.throws(
    () =>
      loadConfig({
        configFile: 'missing',
        readFile: () => {
          throw new Error('ENOENT')
        },
      }),
    /config file missing: ENOENT/,
  )
})

t.test('listen forms', async (t) => {
  t.same(loadConfig({ flags: { listen: '[::]:5000' } }).listen, { host: '::', port: 5000 })
  t.same(loadConfig({ flags: { listen: ':8080' } }).listen, { host: '0.0.0.0', port: 8080 })
  t.throws(() => loadConfig({ flags: { listen: '0.0.0.0:70000' } }), /host:port/)
})

t.test('an empty environment variable counts as unset', async (t) => {
  t.equal(loadConfig({ env: { MIRROR_REDIS_URL: '' } }).redisUrl, undefined)
  const sentinel = 'redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster'
  t.equal(loadConfig({ env: { MIRROR_REDIS_URL: sentinel } }).redisUrl, sentinel, 'several hosts are fine')
  t.throws(() => loadConfig({ env: { MIRROR_REDIS_URL: 'redis-sentinel://h:1' } }), /redisUrl.*names its master/)
})

t.test('every option has a distinct env var and flag', async (t) => {
  t.equal(new Set(OPTIONS.map((o) => o.env)).size, OPTIONS.length)
  t.equal(new Set(OPTIONS.map((o) => o.flag.split(' ')[0])).size, OPTIONS.length)
  for (const option of OPTIONS) t.match(option.env, /^MIRROR_[A-Z_]+$/)
})

t.test('cache bounds and replica settings', async (t) => {
  t.equal(loadConfig({ flags: { maxCacheSize: '50GiB' } }).cache.maxBytes, 50 * 1024 ** 3)
  t.equal(loadConfig({ flags: { maxCacheSize: '500MB' } }).cache.maxBytes, 500 * 1024 ** 2)
  t.equal(loadConfig({ flags: { maxCacheSize: '1048576' } }).cache.maxBytes, 1048576)
  t.equal(loadConfig({ configFile: 'x', readFile: () => 'maxCacheSize: 4096\n' }).cache.maxBytes, 4096)
  t.equal(loadConfig().cache.maxBytes, undefined, 'unbounded by default')
  t.same(loadConfig().cache, {
    maxBytes: undefined,
    memoryBytes: 64 * 1024 ** 2,
    highWatermark: 0.9,
    lowWatermark: 0.8,
  })
  t.equal(loadConfig({ env: { MIRROR_MEMORY_CACHE_SIZE: '0' } }).cache.memoryBytes, 0, '0 turns the memory cache off')
  t.equal(loadConfig({ flags: { memoryCacheSize: '8MiB' } }).cache.memoryBytes, 8 * 1024 ** 2)
  t.throws(() => loadConfig({ flags: { memoryCacheSize: '-1' } }), /memoryCacheSize.*size like/)
  t.throws(() => loadConfig({ flags: { maxCacheSize: '50 apples' } }), /maxCacheSize.*size like/)
  t.throws(() => loadConfig({ flags: { cacheLowWatermark: '0.95' } }), /below cacheHighWatermark/)
  t.throws(() => loadConfig({ flags: { advertiseUrl: 'http://10.0.0.5:5000' } }), /need redisUrl and peerSecret/)
  const replica = loadConfig({
    flags: { advertiseUrl: 'http://10.0.0.5:5000/', redisUrl: 'redis://r:6379', peerSecret: 'a'.repeat(32) },
  })
  t.same(replica.replica, { advertiseUrl: 'http://10.0.0.5:5000', peerSecret: 'a'.repeat(32) })
  t.throws(() => loadConfig({ flags: { peerSecret: 'short' } }), /at least 16/)
  t.equal(loadConfig().redisPrefix, 'registry-mirror:')
  t.equal(loadConfig({ env: { MIRROR_REDIS_TIMEOUT_MS: '250' } }).redisTimeoutMs, 250)
})

t.test('tokenSecret: unset by default, at least 16 characters, never repeated in an error', async (t) => {
  t.equal(loadConfig().tokenSecret, undefined)
  t.equal(loadConfig({ env: { MIRROR_TOKEN_SECRET: 'b'.repeat(32) } }).tokenSecret, 'b'.repeat(32))
  t.equal(loadConfig({ flags: { tokenSecret: 'c'.repeat(16) } }).tokenSecret, 'c'.repeat(16))
  const short = 'short-secret'
  try {
    loadConfig({ env: { MIRROR_TOKEN_SECRET: short } })
    t.fail('a short secret loaded')
  } catch (e) {
    t.match((e as Error).message, /tokenSecret.*at least 16/)
    t.notOk((e as Error).message.includes(short), 'the value is not in the message')
  }
})

t.test("the upstream's name: Docker Hub's, its host[:port], or the one given", async (t) => {
  for (const url of ['https://registry-1.docker.io', 'https://index.docker.io/', 'https://docker.io']) {
    t.equal(loadConfig({ flags: { upstream: url } }).upstream.name, 'docker.io', url)
  }
  t.equal(loadConfig({ flags: { upstream: 'https://dhe.example.com' } }).upstream.name, 'dhe.example.com')
  t.equal(loadConfig({ flags: { upstream: 'http://10.0.0.1:5000' } }).upstream.name, '10.0.0.1:5000')
  const named = loadConfig({
    env: { MIRROR_UPSTREAM: 'http://10.0.0.1:5000', MIRROR_UPSTREAM_NAME: 'DHE.example.com' },
  })
  t.equal(named.upstream.name, 'dhe.example.com', 'named by MIRROR_UPSTREAM_NAME, in lower case')
  t.equal(loadConfig({ flags: { upstreamName: 'localhost' } }).upstream.name, 'localhost')
  for (const bad of ['registry', 'ghcr.io/org', 'a b.example', 'https://ghcr.io']) {
    t.throws(() => loadConfig({ flags: { upstreamName: bad } }), /upstreamName.*must be a registry host/, bad)
  }
})

const THREE = `
upstream: https://registry-1.docker.io
upstreamUsername: mirror-bot
upstreamPassword: hub-secret
tagTtl: 120
upstreams:
  - name: docker.io
    deny: ["private/**"]
  - name: ghcr.io
    url: https://ghcr.io
    verdictTtl: 60
  - name: DHE.example.com
    url: https://dhe.example.com/
    username: dhe-bot
    password: dhe-secret
    tagTtl: 30
    offline: true
    allow: ["team/*", "library/**"]
`

t.test('a config file with three upstreams', async (t) => {
  const config = loadConfig({ configFile: 'm.yaml', readFile: () => THREE, env: {} })
  t.same(
    config.upstreams.map((u) => u.name),
    ['docker.io', 'ghcr.io', 'dhe.example.com'],
    'the default first',
  )
  const [hub, ghcr, dhe] = config.upstreams
  t.match(hub, {
    url: 'https://registry-1.docker.io',
    credentials: { username: 'mirror-bot', password: 'hub-secret' },
    defaultNamespace: 'library',
    tagTtlSeconds: 120,
    deny: ['private/**'],
    allow: undefined,
  })
  t.same(ghcr, {
    name: 'ghcr.io',
    url: 'https://ghcr.io',
    host: 'ghcr.io',
    tagTtlSeconds: 120,
    verdictTtlSeconds: 60,
    credentials: undefined,
    defaultNamespace: '',
    offline: false,
    allow: undefined,
    deny: undefined,
    proxy: { kind: 'direct' },
  })
  t.equal(ghcr?.credentials, undefined, "the mirror's Docker Hub account is never another registry's")
  t.match(dhe, {
    url: 'https://dhe.example.com',
    credentials: { username: 'dhe-bot', password: 'dhe-secret' },
    tagTtlSeconds: 30,
    verdictTtlSeconds: 600,
    offline: true,
    allow: ['team/*', 'library/**'],
  })
  t.ok(Object.isFrozen(config.upstreams) && Object.isFrozen(dhe?.allow), 'frozen all the way down')
})

t.test('the compact form of MIRROR_UPSTREAMS and --upstreams adds upstreams', async (t) => {
  const config = loadConfig({
    env: {
      MIRROR_UPSTREAM: 'https://dhe.example.com',
      MIRROR_UPSTREAMS: 'ghcr.io=https://ghcr.io, quay.io=https://quay.io/ ,docker.io=https://registry-1.docker.io',
    },
  })
  t.same(
    config.upstreams.map((u) => [u.name, u.url, u.defaultNamespace]),
    [
      ['dhe.example.com', 'https://dhe.example.com', ''],
      ['ghcr.io', 'https://ghcr.io', ''],
      ['quay.io', 'https://quay.io', ''],
      ['docker.io', 'https://registry-1.docker.io', 'library'],
    ],
  )
  const flagged = loadConfig({ flags: { upstreams: 'localhost:5001=http://127.0.0.1:5001' } })
  t.same(
    flagged.upstreams.map((u) => u.name),
    ['docker.io', 'localhost:5001'],
  )
})

t.test('every problem with the upstreams is reported at once', async (t) => {
  const file = `
upstreams:
  - { name: ghcr.io, url: https://ghcr.io }
  - { name: ghcr.io, url: https://ghcr.example.com }
  - { name: quay, url: https://quay.io }
  - { name: gcr.io, url: "ftp://gcr.io" }
  - { name: k8s.io, username: only-a-user, url: https://registry.k8s.io }
  - { name: ecr.example.com, colour: blue }
`
  const error = t.throws(() => loadConfig({ configFile: 'm.yaml', readFile: () => file, env: {} })) as ConfigError
  t.type(error, ConfigError)
  t.match(
    error.message,
    /upstreams\[1\]\.name \(MIRROR_UPSTREAMS, --upstreams\): duplicate name ghcr.io \(also upstreams\[0\]\)/,
  )
  t.match(error.message, /upstreams\[2\]\.name.*must be a registry host/)
  t.match(error.message, /upstreams\[3\]\.url.*http or https URL/)
  t.match(error.message, /upstreams\[4\]\.password.*username and password go together/)
  t.match(error.message, /upstreams\[5\].*colour/)
  t.equal(error.problems.length, 5)
})

t.test('an entry named like the default upstream sets its options, or is a duplicate', async (t) => {
  const clash = loadConfig.bind(null, {
    env: { MIRROR_UPSTREAMS: 'docker.io=https://mirror.gcr.io' },
  })
  t.throws(clash, /upstreams\[0\]\.name.*docker.io is the default upstream's name/)
  t.throws(() => loadConfig({ env: { MIRROR_UPSTREAMS: 'ghcr.io' } }), /upstreams.*ghcr.io: must be name=url/)
  t.throws(
    () => loadConfig({ configFile: 'm', readFile: () => 'upstreams: [{ name: ghcr.io }]\n', env: {} }),
    /upstreams\[0\]\.url.*required/,
  )
  const same = loadConfig({ configFile: 'm', readFile: () => 'upstreams: [{ name: docker.io, offline: true }]\n' })
  t.equal(same.upstreams.length, 1)
  t.equal(same.upstream.offline, true)
})

t.test('shutdown grace', async (t) => {
  t.equal(loadConfig().shutdownGraceSeconds, 10)
  t.equal(loadConfig({ env: { MIRROR_SHUTDOWN_GRACE: '0' } }).shutdownGraceSeconds, 0, 'transfers cut at once')
  t.throws(
    () => loadConfig({ flags: { shutdownGrace: '-1' } }),
    /shutdownGrace \(MIRROR_SHUTDOWN_GRACE, --shutdown-grace\)/,
  )
})

t.test('TLS: both files or neither, made absolute', async (t) => {
  t.equal(loadConfig().tls, undefined, 'plain HTTP by default')
  const tls = loadConfig({ env: { MIRROR_TLS_CERT: 'tls/mirror.crt', MIRROR_TLS_KEY: '/etc/mirror/tls.key' } }).tls
  t.match(tls, { certFile: /^\/.*\/tls\/mirror\.crt$/, keyFile: '/etc/mirror/tls.key' })
  t.throws(
    () => loadConfig({ flags: { tlsCert: 'a.crt' } }),
    /tlsKey \(MIRROR_TLS_KEY, --tls-key\): tlsCert and tlsKey go together/,
  )
  t.throws(() => loadConfig({ flags: { tlsKey: 'a.key' } }), /tlsCert and tlsKey go together/)
})

t.test('log format: auto unless told', async (t) => {
  t.equal(loadConfig().logFormat, 'auto')
  t.equal(loadConfig({ env: { MIRROR_LOG_FORMAT: 'json' } }).logFormat, 'json')
  t.equal(loadConfig({ flags: { logFormat: 'pretty' } }).logFormat, 'pretty')
  t.throws(() => loadConfig({ flags: { logFormat: 'colour' } }), /logFormat \(MIRROR_LOG_FORMAT, --log-format\)/)
})

t.test('offline (MIRROR_OFFLINE, --offline, offline) makes every upstream offline', async (t) => {
  const entries = 'upstreams:\n  - name: ghcr.io\n    url: https://ghcr.io\n    offline: false\n'
  const offlineOf = (config: ReturnType<typeof loadConfig>) => [
    config.offline,
    ...config.upstreams.map((u) => u.offline),
  ]
  t.same(offlineOf(loadConfig({ configFile: 'm.yaml', readFile: () => entries, env: {} })), [false, false, false])
  const cases: Array<[string, Parameters<typeof loadConfig>[0]]> = [
    ['the environment', { env: { MIRROR_OFFLINE: 'true' } }],
    ['the environment, as 1', { env: { MIRROR_OFFLINE: '1' } }],
    ['a flag', { flags: { offline: true }, env: {} }],
    ['the config file', { env: {}, readFile: () => `offline: true\n${entries}` }],
  ]
  for (const [where, sources] of cases) {
    const config = loadConfig({ configFile: 'm.yaml', readFile: () => entries, ...sources })
    t.same(offlineOf(config), [true, true, true], `${where}: an entry's offline: false too`)
  }
  t.same(offlineOf(loadConfig({ env: { MIRROR_OFFLINE: 'false' } })), [false, false], 'false is false')
  t.throws(() => loadConfig({ env: { MIRROR_OFFLINE: 'maybe' } }), /offline \(MIRROR_OFFLINE, --offline\)/)
})
