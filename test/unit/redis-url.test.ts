import t from 'tap'
import { parseRedisUrl } from '../../src/config/redis-url.js'

t.test('one server: the URL goes to ioredis as it is', async (t) => {
  for (const url of [
    'redis://127.0.0.1:6379',
    'redis://:s3cret@redis.internal:6380/2',
    'rediss://user:pw@redis.example',
  ]) {
    t.same(parseRedisUrl(url), { kind: 'server', url }, url)
  }
})

t.test('Sentinel: several sentinels, the master, a database, credentials', async (t) => {
  t.same(parseRedisUrl('redis-sentinel://10.0.0.1:26379,10.0.0.2:26380,sentinel-3/mymaster/3'), {
    kind: 'sentinel',
    sentinels: [
      { host: '10.0.0.1', port: 26379 },
      { host: '10.0.0.2', port: 26380 },
      { host: 'sentinel-3', port: 26379 },
    ],
    master: 'mymaster',
    db: 3,
    username: undefined,
    password: undefined,
  })
  t.match(parseRedisUrl('redis-sentinel://:p%40ss@[::1]:26379/m'), {
    sentinels: [{ host: '::1', port: 26379 }],
    master: 'm',
    db: 0,
    password: 'p@ss',
  })
  t.match(parseRedisUrl('redis-sentinel://admin:pw@h:1/m'), { username: 'admin', password: 'pw' })
})

t.test('Cluster: several nodes, default port', async (t) => {
  t.same(parseRedisUrl('redis-cluster://:pw@10.0.0.1:7000,10.0.0.2'), {
    kind: 'cluster',
    nodes: [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 6379 },
    ],
    username: undefined,
    password: 'pw',
  })
})

t.test('what is refused, with the forms named', async (t) => {
  for (const [url, why] of [
    ['http://redis:6379', /unknown scheme/],
    ['redis-sentinel://h:26379', /names its master/],
    ['redis-sentinel://h:26379/m/1/extra', /names its master/],
    ['redis-sentinel://h:26379/m/x', /not a database number/],
    ['redis-cluster://h:7000/1', /no path/],
    ['redis-cluster://h:99999', /not host:port/],
    ['redis-cluster://h:7000,,h2', /not host:port/],
    ['redis://h:6379/zero', /not a database number/],
    ['not a url', /Invalid URL/],
  ] as const) {
    t.throws(() => parseRedisUrl(url), { message: /must be redis:\/\/.*redis-cluster:\/\// }, url)
    t.throws(() => parseRedisUrl(url), { message: why }, url)
  }
})
