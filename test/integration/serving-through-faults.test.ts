// Outside offline mode: whenever the upstream cannot be reached and whatever the state of
// Redis, a mirror serves every image it served before, by tag and by digest, marked
// stale; and repeated failures put the upstream into a backoff a single probe ends.
import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { EmbeddedIndex } from '../../src/cache/embedded-index.js'
import { ALICE } from '../helpers/credentials.js'
import { http } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { startTcpListener } from '../helpers/tcp-listener.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { waitFor } from '../helpers/wait.js'

const DAY_MS = 24 * 60 * 60 * 1000

/** A clock the test moves: a day on, every tag mapping and verdict is past its TTL. */
function movableClock() {
  const clock = { skewMs: 0, now: () => Date.now() + clock.skewMs }
  return clock
}

/** The mirror's own embedded index on its cache dir, whatever index the suite runs with. */
const embedded = (cacheDir: string) => EmbeddedIndex.open(join(cacheDir, 'index'))

/** skopeo pulls `reference` through the mirror; every file must be the upstream's, byte for byte. */
async function pullsIntact(t: Test, mirror: RunningMirror, upstream: Upstream, reference: string): Promise<void> {
  const small = upstream.fixture.images.small!
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/${reference}`, out.path)
  const digests = await verifyDirLayout(out.path)
  t.ok(
    small.blobs.every((b) => digests.includes(b.digest)),
    `${reference}: every blob`,
  )
  const manifest = await readFile(join(out.path, 'manifest.json'))
  t.equal(`sha256:${createHash('sha256').update(manifest).digest('hex')}`, small.digest, `${reference}: the manifest`)
}

async function metric(mirror: RunningMirror, pattern: RegExp): Promise<number | undefined> {
  const text = (await http(`${mirror.url}/metrics`)).body.toString()
  const line = text.split('\n').find((l) => pattern.test(l))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

const staleCount = (mirror: RunningMirror) =>
  metric(mirror, /^registry_mirror_requests_total\{route="manifest",method="GET",status="2xx",cache="stale"/)
const backoffOf = (mirror: RunningMirror) => metric(mirror, /^registry_mirror_upstream_backoff\{/)

interface Cell {
  name: string
  index: 'embedded' | 'redis'
  upstream: 'up' | 'down'
  redis?: 'down' | 'empty'
}

const CELLS: Cell[] = [
  { name: 'embedded index, upstream down', index: 'embedded', upstream: 'down' },
  { name: 'Redis index, upstream down', index: 'redis', upstream: 'down' },
  { name: 'Redis index, Redis down', index: 'redis', upstream: 'up', redis: 'down' },
  { name: 'Redis index, Redis and upstream down', index: 'redis', upstream: 'down', redis: 'down' },
  { name: 'Redis index, Redis restarted empty and upstream down', index: 'redis', upstream: 'down', redis: 'empty' },
]

for (const cell of CELLS) {
  t.test(`${cell.name}: a pulled image is pulled again by tag and digest, intact`, async (t) => {
    const upstream = await startUpstream()
    t.teardown(() => upstream.close())
    let redis: RedisServer | undefined
    if (cell.index === 'redis') {
      redis = await startRedis()
      t.teardown(() => redis!.close())
    }
    const cache = await makeTempDir('cache')
    t.teardown(() => cache.remove())
    const clock = movableClock()
    const mirror = await startMirror({
      upstream: upstream.registry.url,
      cacheDir: cache.path,
      settings: redis === undefined ? {} : { redisUrl: redis.url },
      index: redis === undefined ? await embedded(cache.path) : undefined,
      now: clock.now,
    })
    t.teardown(() => mirror.close())
    const small = upstream.fixture.images.small!
    const secret = upstream.fixture.images.private!
    const warm = await makeTempDir('pull')
    t.teardown(warm.remove)
    await skopeoCopy(`${mirror.host}/${small.repo}:1`, warm.path)
    await skopeoCopy(`${mirror.host}/${secret.repo}:1`, warm.path, ['--src-creds', `${ALICE.user}:${ALICE.password}`])
    await mirror.app.mirror.blobs.settled()

    clock.skewMs = DAY_MS
    if (cell.upstream === 'down') await upstream.stopRegistry()
    if (cell.redis === 'down') await redis!.kill()
    if (cell.redis === 'empty') await redis!.restart()

    await pullsIntact(t, mirror, upstream, `${small.repo}:1`)
    await pullsIntact(t, mirror, upstream, `${small.repo}@${small.digest}`)
    if (cell.upstream === 'up') return

    t.ok(((await staleCount(mirror)) ?? 0) > 0, 'the tag was served stale, in the metrics')
    t.ok(
      mirror.logs.some((l) => l.msg === 'request' && l.outcome === 'stale'),
      'and in the request log',
    )
    // Its layer shared with library/small is in the cache; its verdict, private, is known.
    const layer = secret.blobs.find((b) => small.blobs.some((s) => s.digest === b.digest))!
    const refused = await http(`${mirror.url}/v2/${secret.repo}/blobs/${layer.digest}`)
    t.equal(refused.status, 503, 'a private repository is not served from the cache without the upstream')
    t.equal(await backoffOf(mirror), 1, 'the upstream is in backoff')
    t.ok(mirror.logs.some((l) => l.msg === 'upstream unreachable; backing off until a probe gets through'))

    await upstream.restartRegistry()
    // The probe is the first request after the delay: ask until one has gone through.
    const probed = async () => {
      await http(`${mirror.url}/v2/${small.repo}/manifests/1`, { headers: { accept: ACCEPT_ALL } })
      return (await backoffOf(mirror)) === 0
    }
    await waitFor(probed, 15_000, 'a probe that ends the backoff')
    t.ok(mirror.logs.some((l) => l.msg === 'upstream reachable again'))
  })
}

t.test('no verdict known at all: the cache serves what it holds, stale, and nothing else', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const cache = await makeTempDir('cache')
  t.teardown(() => cache.remove())
  const small = upstream.fixture.images.small!
  const first = await startMirror({
    upstream: upstream.registry.url,
    cacheDir: cache.path,
    index: await embedded(cache.path),
  })
  const warm = await makeTempDir('pull')
  t.teardown(warm.remove)
  await skopeoCopy(`${first.host}/${small.repo}:1`, warm.path)
  await first.app.mirror.blobs.settled()
  await first.stop()
  // The verdicts are lost; the tag mappings and the blobs are not.
  await rm(join(cache.path, 'index', 'verdicts.jsonl'))
  await upstream.stopRegistry()

  const mirror = await startMirror({
    upstream: upstream.registry.url,
    cacheDir: cache.path,
    index: await embedded(cache.path),
  })
  t.teardown(() => mirror.close())
  await pullsIntact(t, mirror, upstream, `${small.repo}:1`)
  await pullsIntact(t, mirror, upstream, `${small.repo}@${small.digest}`)
  t.ok(mirror.logs.some((l) => l.msg === 'repository access unknown; only cached content is served'))
  const big = upstream.fixture.images.big!
  const uncached = await http(`${mirror.url}/v2/${big.repo}/manifests/${big.digest}`)
  t.equal(uncached.status, 503, 'what the cache does not hold needs the upstream')
  await upstream.restartRegistry()
})

t.test('an upstream that hangs: after a few timeouts, requests stop waiting for it', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const clock = movableClock()
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: { upstreamTimeout: 1, upstreamConnectTimeout: 1 },
    now: clock.now,
  })
  t.teardown(() => mirror.close())
  const small = upstream.fixture.images.small!
  const manifest = `${mirror.url}/v2/${small.repo}/manifests/1`
  const get = () => http(manifest, { headers: { accept: ACCEPT_ALL } })
  t.equal((await get()).status, 200)
  await upstream.stopRegistry()
  const hanging = await startTcpListener('hold', Number(new URL(upstream.registry.url).port))
  t.teardown(() => hanging.close())
  clock.skewMs = DAY_MS

  // The verdict's re-check and the tag's wait for the timeout, until the backoff begins.
  while ((await backoffOf(mirror)) !== 1) t.equal((await get()).status, 200, 'served stale while it waits')
  const seen = hanging.connections()
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    const answer = await get()
    const ms = performance.now() - started
    t.equal(answer.status, 200)
    t.ok(ms < 500, `in backoff, answered in ${ms.toFixed(0)} ms without waiting for the upstream`)
  }
  t.equal(hanging.connections(), seen, 'no new connection while backing off')
  await hanging.close()
  await upstream.restartRegistry()
})
