import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { registryBlobPath } from '../helpers/cache-assertions.js'
import { ALICE, basic, bearer, tokenVia } from '../helpers/credentials.js'
import { download, http, json } from '../helpers/http.js'
import { startMirror } from '../helpers/mirror.js'
import { freePort } from '../helpers/ports.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('traffic shows up in the metrics: hits, misses, bytes by source, private savings, failures', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const small = upstream.fixture.images.small!
  const layer = small.blobs.find((b) => b.size > 1024 * 1024)!
  const url = `${mirror.url}/v2/${small.repo}/blobs/${layer.digest}`
  t.equal((await download(url)).digest, layer.digest)
  await mirror.app.mirror.blobs.settled()
  t.equal((await download(url)).digest, layer.digest)

  const secret = upstream.fixture.images.private!
  const shared = secret.blobs.find((b) => small.blobs.some((s) => s.digest === b.digest))!
  await download(`${mirror.url}/v2/${small.repo}/blobs/${shared.digest}`)
  await mirror.app.mirror.blobs.settled()
  const token = await tokenVia(mirror.url, secret.repo, ALICE)
  await http(`${mirror.url}/v2/${secret.repo}/blobs/${shared.digest}`, { headers: bearer(token) })
  await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, { headers: { ...bearer(token), accept: ACCEPT_ALL } })

  const corrupt = small.blobs.find((b) => b.size > 50 * 1024 && b.size < 500 * 1024)!
  const path = registryBlobPath(upstream.storageDir, corrupt.digest)
  const original = await readFile(path)
  await writeFile(`${path}.new`, Buffer.from(original).fill(0, 0, 16))
  await rename(`${path}.new`, path)
  t.ok((await download(`${mirror.url}/v2/${small.repo}/blobs/${corrupt.digest}`)).error, 'the altered blob fails')
  await mirror.app.mirror.blobs.settled()

  const text = (await http(`${mirror.url}/metrics`)).body.toString()
  const of = `upstream="${mirror.config.upstream.name}"`
  // The altered blob's response had started (200) before its digest failed.
  t.equal(sample(text, `registry_mirror_requests_total{route="blob",method="GET",status="2xx",cache="miss",${of}}`), 3)
  t.equal(sample(text, `registry_mirror_requests_total{route="blob",method="GET",status="2xx",cache="hit",${of}}`), 2)
  t.equal(
    sample(text, `registry_mirror_requests_total{route="manifest",method="GET",status="2xx",cache="bypass",${of}}`),
    1,
  )
  t.ok(sample(text, `registry_mirror_sent_bytes_total{source="cache",${of}}`)! >= layer.size + shared.size)
  t.ok(sample(text, `registry_mirror_upstream_received_bytes_total{kind="blob",${of}}`)! >= layer.size + shared.size)
  t.equal(
    sample(text, `registry_mirror_private_cache_served_bytes_total{${of}}`),
    shared.size,
    'bytes saved for a private pull',
  )
  t.equal(sample(text, `registry_mirror_fill_failures_total{reason="digest_mismatch",${of}}`), 1)
  t.equal(sample(text, `registry_mirror_fills_total{result="cached",${of}}`), 2)
  t.ok(sample(text, `registry_mirror_upstream_responses_total{kind="blob",code="200",${of}}`)! >= 2)
  t.ok(sample(text, `registry_mirror_upstream_responses_total{kind="token",code="200",${of}}`)! >= 1)
  t.equal(sample(text, 'registry_mirror_cache_blobs'), 2)
  t.equal(sample(text, 'registry_mirror_cache_size_bytes'), layer.size + shared.size)
  t.equal(sample(text, 'registry_mirror_index_up'), 1)
  t.equal(sample(text, 'registry_mirror_fills_in_flight'), 0)
  t.match(text, /^process_resident_memory_bytes \d+/m, 'Node process metrics')
  t.match(text, /^nodejs_eventloop_lag_p99_seconds /m, 'event-loop metrics')
  t.notMatch(text, /sha256:|library\/small|private\/alice/, 'no digest or repository in any label')

  const logged = mirror.logs.filter((l) => l.msg === 'request')
  t.match(
    logged.find((l) => l.outcome === 'miss'),
    { status: 200, upstreamStatus: 200, bytes: layer.size },
  )
})

t.test('/healthz and /readyz', async (t) => {
  const { mirror } = await startStack(t)
  t.same((await json(`${mirror.url}/healthz`)).body, { status: 'ok' })
  t.same((await json(`${mirror.url}/readyz`)).body, {
    status: 'ready',
    cache: 'writable',
    index: 'ok',
    reconcile: 'done',
  })
  const tmp = join(mirror.cacheDir, 'tmp')
  await rm(tmp, { recursive: true })
  await writeFile(tmp, 'not a directory')
  const broken = await json(`${mirror.url}/readyz`)
  t.equal(broken.status, 503, 'a cache dir that cannot be written is not ready')
  t.match(broken.body, { status: 'unavailable', cache: 'not writable' })
  await rm(tmp)
})

t.test('MIRROR_METRICS_LISTEN serves /metrics on a second address', async (t) => {
  const { upstream } = await startStack(t)
  const port = await freePort()
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: { metricsListen: `127.0.0.1:${port}` },
  })
  t.teardown(() => mirror.close())
  await mirror.app.metricsServer!.listen({ host: '127.0.0.1', port })
  const metrics = await http(`http://127.0.0.1:${port}/metrics`)
  t.equal(metrics.status, 200)
  t.match(metrics.body.toString(), /registry_mirror_requests_total/)
  t.equal((await http(`http://127.0.0.1:${port}/v2/`)).status, 404, 'and nothing else')
})

t.test('credentials and tokens never reach the log, even at trace level', async (t) => {
  const { upstream } = await startStack(t)
  const mirror = await startMirror({ upstream: upstream.registry.url, settings: { logLevel: 'trace' } })
  t.teardown(() => mirror.close())
  const secret = upstream.fixture.images.private!
  const token = await tokenVia(mirror.url, secret.repo, ALICE)
  await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, { headers: { ...bearer(token), accept: ACCEPT_ALL } })
  await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, { headers: { authorization: 'Bearer s3cr3t-t0ken' } })
  await http(`${mirror.url}/v2/_catalog`, { headers: { authorization: basic(ALICE) } })
  const text = JSON.stringify(mirror.logs)
  t.ok(mirror.logs.length > 5, 'the log has lines')
  for (const secretText of [token, 's3cr3t-t0ken', ALICE.password, basic(ALICE)]) {
    t.notOk(text.includes(secretText), 'a credential is absent from the log')
  }
})

t.test('opt-in: the most pulled public repositories, by name, and never a private one', async (t) => {
  const { upstream, mirror } = await startStack(t, {
    settings: { metricsTopRepositories: 2, defaultNamespace: 'library' },
  })
  const get = (repo: string, headers: Record<string, string> = {}) =>
    http(`${mirror.url}/v2/${repo}/manifests/1`, { headers: { ...headers, accept: ACCEPT_ALL } })
  for (const repo of ['small', 'library/small', 'small', 'library/multi', 'library/multi', 'library/docker2']) {
    t.equal((await get(repo)).status, 200, repo)
  }
  await http(`${mirror.url}/v2/library/docker2/manifests/1`, { method: 'HEAD', headers: { accept: ACCEPT_ALL } })
  const secret = upstream.fixture.images.private!
  const token = await tokenVia(mirror.url, secret.repo, ALICE)
  for (let i = 0; i < 5; i++) t.equal((await get(secret.repo, bearer(token))).status, 200, 'a private pull')

  const text = (await http(`${mirror.url}/metrics`)).body.toString()
  t.equal(
    sample(text, 'registry_mirror_repository_pulls_total{repository="library/small"}'),
    3,
    'one name, however asked',
  )
  t.equal(sample(text, 'registry_mirror_repository_pulls_total{repository="library/multi"}'), 2)
  t.equal(
    sample(text, 'registry_mirror_repository_pulls_total{repository="library/docker2"}'),
    undefined,
    'only the top 2',
  )
  t.notMatch(text, secret.repo, 'a private repository never appears')

  const { mirror: plain } = await startStack(t)
  await http(`${plain.url}/v2/library/small/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.notMatch((await http(`${plain.url}/metrics`)).body.toString(), 'repository_pulls_total', 'off unless asked for')
})
