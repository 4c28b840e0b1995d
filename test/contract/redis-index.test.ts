import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { Index } from '../../src/cache/cache-index.js'
import { connectRedis, firstConnection, type RedisClient } from '../../src/cache/redis-connection.js'
import { RedisIndex } from '../../src/cache/redis-index.js'
import { RedisPeers } from '../../src/cache/redis-peers.js'
import { MAX_NEGATIVE_VERDICTS, NEGATIVE_UNUSED_TTL_MS, UNUSED_TTL_MS } from '../../src/cache/records.js'
import { silentLogger } from '../../src/logger.js'
import { startRedis } from '../helpers/redis.js'
import { indexContract } from './index-contract.js'

const redis = await startRedis()
t.teardown(() => redis.close())
const prefixes = new WeakMap<Index, string>()

/** A client that is connected: a command sent at once is not refused (there is no offline queue). */
async function connect(url = redis.url): Promise<RedisClient> {
  const client = connectRedis({ url, timeoutMs: 1000, log: silentLogger })
  if (!(await firstConnection(client, 5000))) throw new Error(`Redis at ${url} never answered`)
  return client
}

async function open(prefix: string): Promise<RedisIndex> {
  const index = new RedisIndex(await connect(), prefix)
  prefixes.set(index, prefix)
  return index
}

/** A replica as a process opens one: its index and its peers share one connection. */
async function replicaOn(prefix: string, self: string) {
  const client = await connect()
  const index = new RedisIndex(client, prefix, self)
  return { client, index, peers: () => new RedisPeers(client, prefix, self, silentLogger) }
}

indexContract(t, {
  open: () => open(`test-${randomBytes(4).toString('hex')}:`),
  reopen: (previous) => open(prefixes.get(previous)!),
  persistsBlobRecords: true,
})

t.test('two prefixes on one Redis do not see each other', async (t) => {
  const a = await open('a:')
  const b = await open('b:')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  await a.putBlob({ digest: `sha256:${'1'.repeat(64)}`, size: 10, upstream: 'u', lastAccess: 1 })
  t.same(await b.stats(), { blobs: 0, bytes: 0 })
  t.same(await a.stats(), { blobs: 1, bytes: 10 })
})

t.test('with Redis gone, calls fail fast instead of hanging', async (t) => {
  const other = await startRedis()
  const client = connectRedis({ url: other.url, timeoutMs: 300, log: silentLogger })
  await firstConnection(client, 5000)
  const index = new RedisIndex(client, 'gone:')
  await other.kill()
  const started = Date.now()
  await t.rejects(index.stats())
  await t.rejects(index.getTag({ upstream: 'u', repo: 'r', tag: 't', accept: '0' }))
  t.ok(Date.now() - started < 1000, 'failed within the timeout')
  await index.close()
  await other.close()
})

t.test('replicas sharing one Redis each hold their own blobs; what a blob is stays shared', async (t) => {
  const a = new RedisIndex(await connect(), 'shared:', 'http://a')
  const b = new RedisIndex(await connect(), 'shared:', 'http://b')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const digest = `sha256:${'2'.repeat(64)}`
  const manifest = {
    digest,
    size: 7,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    upstream: 'u',
    lastAccess: 5,
  }
  await a.putBlob(manifest)
  t.equal(await b.getBlob(digest), undefined, 'b does not hold it')
  t.same(await b.holders(digest), ['http://a'])
  await b.putBlob({ ...manifest, lastAccess: 6 })
  t.same((await a.holders(digest)).sort(), ['http://a', 'http://b'])
  t.same(await a.stats(), { blobs: 1, bytes: 7 })
  t.same(await b.stats(), { blobs: 1, bytes: 7 })
  await a.deleteBlob(digest)
  t.same(await a.stats(), { blobs: 0, bytes: 0 })
  t.match(await b.getBlob(digest), { mediaType: manifest.mediaType }, 'b keeps its record')
  await b.deleteBlob(digest)
  t.same(await a.holders(digest), [])
})

t.test("a dead replica's records expire: holders forgotten when met, its own keys in days", async (t) => {
  const a = await replicaOn('gone:', 'http://a')
  const b = await replicaOn('gone:', 'http://b')
  t.teardown(() => Promise.all([a.index.close(), b.index.close()]))
  const digest = `sha256:${'3'.repeat(64)}`
  await a.index.putBlob({ digest, size: 9, upstream: 'u', lastAccess: 1 })
  const aPeers = a.peers()
  const bPeers = b.peers()
  t.teardown(() => bPeers.close())
  // One connection runs its commands in order: a's first heartbeat is done before this reads.
  for (const key of ['access', 'stats']) {
    const ttl = await a.client.pttl(`gone:{idx}:${key}:http://a`)
    t.ok(ttl > 6 * 24 * 3600 * 1000, `${key}: expires some days after the last heartbeat`)
  }
  await aPeers.close()
  const plan = await bPeers.plan(digest)
  t.equal(plan.kind, 'upstream', 'a dead holder is not asked')
  if (plan.kind === 'upstream') await plan.release()
  t.same(await a.index.holders(digest), [], 'and is forgotten as a holder')
  t.equal(await a.client.exists(`gone:{idx}:blob:${digest}`), 0, 'a blob no one holds is forgotten')
})

t.test("closing a replica's peers leaves the connection they share with its index open", async (t) => {
  const a = await replicaOn('close:', 'http://a')
  await a.peers().close()
  t.equal(a.client.status, 'ready')
  await a.index.putBlob({ digest: `sha256:${'5'.repeat(64)}`, size: 1, upstream: 'u', lastAccess: 1 })
  t.same(await a.index.stats(), { blobs: 1, bytes: 1 }, 'the index still works')
  const ended = once(a.client, 'end')
  await a.index.close()
  await ended
  t.pass('the index closes it')
})

t.test('values in Redis that do not fit their schema count as absent, and are logged', async (t) => {
  const client = await connect()
  const warnings: Array<Record<string, unknown>> = []
  const log = { ...silentLogger, warn: (fields: object) => warnings.push({ ...fields }) }
  const index = new RedisIndex(client, 'invalid:', 'local', log)
  t.teardown(() => index.close())
  const key = { upstream: 'u', repo: 'r', tag: 't', accept: '0' }
  const record = { digest: `sha256:${'4'.repeat(64)}`, mediaType: 'm', size: 1, checkedAt: 1 }
  await index.putTag(key, record)
  await index.putTag({ ...key, accept: '1' }, record)
  await client.set('invalid:{idx}:tag:u r t 1', JSON.stringify({ ...record, size: 'big' }))
  await client.set('invalid:{idx}:tag:u r t 2', '{"digest":')
  await client.sadd('invalid:{idx}:accepts:u r t', '2')
  await client.set('invalid:{idx}:verdict:u r', JSON.stringify({ isPublic: 'yes', checkedAt: 1 }))
  await client.hset('invalid:{idx}:pins', 'library/x:1', '{}')
  t.equal(await index.getTag({ ...key, accept: '1' }), undefined, 'a tag record of the wrong shape')
  t.equal(await index.getTag({ ...key, accept: '2' }), undefined, 'one that is not JSON')
  t.same(await index.findTags('u', 'r', 't'), [record], 'only the valid mapping is found')
  t.equal(await index.getVerdict('u', 'r'), undefined)
  t.same(await index.pins(), [{ image: 'library/x:1', digests: [] }])
  t.ok(warnings.length >= 4, 'each was logged')
  t.match(warnings[0], { key: 'invalid:{idx}:tag:u r t 1' })
})

t.test('tag mappings and verdicts expire when unused; negative verdicts are bounded apart', async (t) => {
  const prefix = `facts-${randomBytes(4).toString('hex')}:`
  const index = await open(prefix)
  t.teardown(() => index.close())
  const client = await connect()
  t.teardown(() => client.quit())
  const key = (k: string) => `${prefix}{idx}:${k}`
  const tag = { upstream: 'u', repo: 'library/x', tag: '1', accept: '7f' }
  await index.putTag(tag, { digest: `sha256:${'a'.repeat(64)}`, mediaType: 'm', size: 1, checkedAt: 1 })
  await index.putVerdict('u', 'library/x', { isPublic: true, checkedAt: 1 })
  const month = UNUSED_TTL_MS
  const ttl = (k: string) => client.pttl(key(k))
  t.ok((await ttl('tag:u library/x 1 7f')) > month - 60_000, 'a tag lasts a month unused')
  t.ok((await ttl('accepts:u library/x 1')) > month - 60_000, 'and so does the set of its accept keys')
  t.ok((await ttl('verdict:u library/x')) > month - 60_000, 'a public verdict too')
  await client.pexpire(key('tag:u library/x 1 7f'), 1000)
  await index.getTag(tag)
  t.ok((await ttl('tag:u library/x 1 7f')) > month - 60_000, 'a read starts its time again')

  const extra = 5
  for (let i = 0; i < MAX_NEGATIVE_VERDICTS + extra; i++) {
    await index.putVerdict('u', `random/${i}`, { isPublic: false, checkedAt: 1 })
  }
  t.equal(await client.zcard(key('negatives')), MAX_NEGATIVE_VERDICTS, 'negatives are bounded in count')
  t.equal(await client.exists(key('verdict:u random/0')), 0, 'the oldest went with its key')
  t.equal(await client.exists(key(`verdict:u random/${MAX_NEGATIVE_VERDICTS + extra - 1}`)), 1)
  t.ok((await ttl(`verdict:u random/${extra}`)) <= NEGATIVE_UNUSED_TTL_MS, 'and last a day unused')
  t.ok(await index.getVerdict('u', 'library/x'), 'the public verdict is not among them')
})
