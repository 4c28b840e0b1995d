import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { runCli, spawnServer } from '../helpers/cli.js'
import { sha256 } from '../helpers/http.js'
import { SEED_PASSWORD, SEED_USER } from '../helpers/seeded-images.js'
import { skopeo, skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { tarEntryData } from '../helpers/tar-offsets.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

async function metric(url: string, name: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text()
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

t.test('prefetch and import beside a live server go through it; pulls meanwhile; nothing corrupt', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const { multi, big, small, docker2 } = upstream.fixture.images
  const registry = new URL(upstream.registry.url).host
  const work = await makeTempDir('beside')
  t.teardown(work.remove)
  const cacheDir = join(work.path, 'cache')
  const server = await spawnServer(upstream.registry.url, cacheDir, ['--log-level', 'info'])
  t.teardown(() => server.service.close())
  const settings = ['--upstream', upstream.registry.url, '--cache-dir', cacheDir]

  const lock = JSON.parse(await readFile(join(cacheDir, 'lock'), 'utf8')) as { control?: string }
  t.equal(lock.control, join(cacheDir, 'control.sock'), 'the lock names the control socket')
  t.equal((await stat(lock.control!)).mode & 0o777, 0o600, 'which its owner alone may use')

  const fillsBefore = await metric(server.url, 'registry_mirror_fills_total')
  const [prefetched] = await Promise.all([
    runCli(['prefetch', 'library/multi:1', 'library/big:1', 'library/small:1', ...settings]),
    skopeoCopy(`${server.host}/${big!.repo}:1`, join(work.path, 'pulled-big')),
    skopeoCopy(`${server.host}/${small!.repo}:1`, join(work.path, 'pulled-small')),
  ])
  t.equal(prefetched.code, 0, prefetched.stderr)
  t.match(prefetched.stderr, `through the mirror serving ${cacheDir}`)
  t.match(prefetched.stdout.toString(), /library\/multi:1 .* linux\/amd64, linux\/arm64 /)
  t.match(server.service.stderr() + server.service.stdout(), /prefetch by command/, "the server's log tells of it")
  const blobs = new Set([...multi!.blobs, ...big!.blobs, ...small!.blobs].map((b) => b.digest))
  t.equal(
    (await metric(server.url, 'registry_mirror_fills_total')) - fillsBefore,
    blobs.size,
    "each blob filled once, in the server's single flight and metrics",
  )
  t.ok((await verifyDirLayout(join(work.path, 'pulled-big'))).length > 0, 'the pull beside it is whole')

  // A bundle written by skopeo, straight from the upstream.
  const archive = join(work.path, 'docker2.tar')
  const name = `${registry}/library/docker2:1`
  await skopeo([
    'copy',
    '--src-tls-verify=false',
    '--src-creds',
    `${SEED_USER}:${SEED_PASSWORD}`,
    `docker://${registry}/${docker2!.repo}:1`,
    `oci-archive:${archive}:${name}`,
  ])
  const bytes = await readFile(archive)
  const layer = tarEntryData(bytes).reduce((a, b) => (b.size > a.size ? b : a))
  const flipped = Buffer.from(bytes)
  flipped[layer.offset + 10]! ^= 0x20
  await writeFile(join(work.path, 'flipped.tar'), flipped)
  const refused = await runCli(['import', join(work.path, 'flipped.tar'), ...settings])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /^registry-mirror: .*does not match its digest/m, 'the server refuses it, and says why')

  const imported = await runCli(['import', archive, ...settings])
  t.equal(imported.code, 0, imported.stderr)
  // skopeo wrote it as OCI: a manifest of its own, not the upstream's Docker one.
  const digest = new RegExp(`${name}\\s+(sha256:\\w{12})\\s+1\\s+restored`).exec(imported.stdout.toString())?.[1]
  t.ok(digest, imported.stdout.toString())
  // Served by the live server from what the import gave it: the upstream is gone.
  await upstream.stopRegistry()
  const out = join(work.path, 'served-docker2')
  await skopeoCopy(`${server.host}/${docker2!.repo}:1`, out)
  t.ok(sha256(await readFile(join(out, 'manifest.json'))).startsWith(digest!), 'the imported image, by tag')
  t.ok(
    (await verifyDirLayout(out)).includes(`sha256:${layer.name.slice(layer.name.lastIndexOf('/') + 1)}`),
    'its layer, whole',
  )

  await server.service.close()
  const reindex = await runCli(['reindex', ...settings])
  t.equal(reindex.code, 0, reindex.stderr)
  t.match(reindex.stdout.toString(), /^dropped 0, /, 'every cached file matches its digest')
})
