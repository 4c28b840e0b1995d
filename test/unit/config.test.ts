import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/load.js'
import { OPTIONS } from '../../src/config/options.js'

t.test('defaults: Docker Hub, port 5000, ./data, embedded index', async (t) => {
  const config = loadConfig()
  t.same(config.listen, { host: '0.0.0.0', port: 5000 })
  t.same(config.upstream, { url: 'https://registry-1.docker.io', host: 'registry-1.docker.io' })
  t.match(config.cacheDir, /\/data$/)
  t.equal(config.redisUrl, undefined)
  t.equal(config.logLevel, 'info')
  t.equal(config.tagTtlSeconds, 300)
  t.equal(config.defaultNamespace, 'library')
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
  t.equal(config.tagTtlSeconds, 120, 'env over file')
  t.equal(config.logLevel, 'debug', 'flag over env')
  t.equal(config.defaultNamespace, '', 'no library/ namespace for a non-Docker-Hub upstream')
})

t.test('a JSON config file, and MIRROR_CONFIG naming it', async (t) => {
  const config = loadConfig({
    env: { MIRROR_CONFIG: 'm.json' },
    readFile: () => '{"upstream": "http://127.0.0.1:5001/", "defaultNamespace": "library"}',
  })
  t.same(config.upstream, { url: 'http://127.0.0.1:5001', host: '127.0.0.1:5001' })
  t.equal(config.defaultNamespace, 'library')
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
