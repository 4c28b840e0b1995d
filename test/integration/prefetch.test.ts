import { execFile } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import { entry, root, runCli } from '../helpers/cli.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { BIG_LAYER_BYTES } from '../helpers/seeded-images.js'
import { startService } from '../helpers/service-process.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const run = promisify(execFile)

interface Site {
  upstream: Upstream
  proxy: FaultProxy
  /** The settings that point a command at the upstream (through the proxy) and a fresh cache dir. */
  settings: (cacheDir: string) => string[]
  cache: () => Promise<{ path: string; store: FsBlobStore }>
}

async function site(t: Test): Promise<Site> {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const proxy = await startFaultProxy(upstream.registry.url, upstream.storageDir)
  t.teardown(() => proxy.close())
  return {
    upstream,
    proxy,
    settings: (cacheDir) => ['--upstream', proxy.url, '--cache-dir', cacheDir],
    cache: async () => {
      const dir = await makeTempDir('prefetch')
      t.teardown(dir.remove)
      return { path: dir.path, store: new FsBlobStore(dir.path) }
    },
  }
}

const blobGets = (proxy: FaultProxy): number =>
  proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).length

async function cached(store: FsBlobStore, digests: string[]): Promise<boolean[]> {
  return Promise.all(digests.map(async (d) => (await store.stat(d)) !== undefined))
}

t.test('prefetch takes every platform of an index, or the named ones; a second run requests no blob', async (t) => {
  const { upstream, proxy, settings, cache } = await site(t)
  const { multi, small } = upstream.fixture.images
  const all = await cache()
  const first = await runCli([
    'prefetch',
    'library/multi:1',
    `${new URL(proxy.url).host}/library/small:1`,
    ...settings(all.path),
  ])
  t.equal(first.code, 0, first.stderr)
  const every = [multi!.digest, ...multi!.children.map((c) => c.digest), ...multi!.blobs.map((b) => b.digest)]
  t.same(
    await cached(all.store, every),
    every.map(() => true),
    'the index, both platforms, configs and layers',
  )
  t.ok(
    (
      await cached(
        all.store,
        small!.blobs.map((b) => b.digest),
      )
    ).every(Boolean),
    'and the single image',
  )
  const table = first.stdout.toString().split('\n')
  t.match(table[0], /^IMAGE\s+DIGEST\s+PLATFORMS\s+SIZE\s+NEW$/)
  t.ok(table.some((l) => l.includes('/library/multi:1') && l.includes('linux/amd64, linux/arm64')))
  t.ok(
    table.some(
      (l) => l.includes('/library/small:1') && l.includes(small!.digest.slice(0, 19)) && l.includes('linux/amd64'),
    ),
  )
  t.equal(blobGets(proxy), multi!.blobs.length + small!.blobs.length, 'each blob fetched once')

  const before = blobGets(proxy)
  const again = await runCli(['prefetch', 'library/multi:1', 'library/small:1', ...settings(all.path)])
  t.equal(again.code, 0, again.stderr)
  t.equal(blobGets(proxy), before, 'a second prefetch makes no blob request')
  t.match(again.stdout.toString(), /library\/multi:1 .* 0 B\n/, 'and nothing is new')

  const one = await cache()
  const arm = await runCli(['prefetch', '--platform', 'linux/arm64', 'library/multi:1', ...settings(one.path)])
  t.equal(arm.code, 0, arm.stderr)
  const armChild = multi!.children.find((c) => c.platform?.architecture === 'arm64')!
  const amdChild = multi!.children.find((c) => c.platform?.architecture === 'amd64')!
  t.same(await cached(one.store, [multi!.digest, armChild.digest, amdChild.digest]), [true, true, false])
  const held = (
    await cached(
      one.store,
      multi!.blobs.map((b) => b.digest),
    )
  ).filter(Boolean).length
  t.equal(held, 2, 'the arm64 config and layer only')
  t.match(arm.stdout.toString(), /library\/multi:1 .* linux\/arm64 /)
})

t.test('an image that fails is named, the others complete, and the exit is non-zero', async (t) => {
  const { upstream, settings, cache } = await site(t)
  const { small, multi } = upstream.fixture.images
  const dir = await cache()
  const list = join(dir.path, 'list.txt')
  await run('sh', ['-c', `printf '# wanted\\nlibrary/small:1\\n\\nlibrary/absent:1\\n' > ${list}`])
  const result = await runCli([
    'prefetch',
    '--file',
    list,
    '--platform',
    'linux/s390x',
    'library/multi:1',
    '--concurrency',
    '2',
    ...settings(dir.path),
  ])
  t.equal(result.code, 1)
  t.match(result.stderr, /library\/absent:1: failed: not found upstream, or not public/)
  t.match(result.stderr, /library\/multi:1: failed: no linux\/s390x in it \(it has linux\/amd64, linux\/arm64\)/)
  t.match(result.stderr, /library\/small:1: failed: it is a single linux\/amd64 image, not linux\/s390x/)
  t.match(result.stderr, /^registry-mirror: 3 of 3 images failed$/m)
  t.notOk((await cached(dir.store, [multi!.children[0]!.digest]))[0], 'no platform of an image that failed')

  const good = await runCli(['prefetch', '--file', list, ...settings(dir.path)])
  t.equal(good.code, 1)
  t.match(good.stdout.toString(), /library\/small:1/, 'the summary holds the image that completed')
  t.match(good.stderr, /^registry-mirror: 1 of 2 images failed$/m)
  t.ok(
    (
      await cached(
        dir.store,
        small!.blobs.map((b) => b.digest),
      )
    ).every(Boolean),
  )

  for (const [args, message] of [
    [['prefetch'], /^registry-mirror: nothing to prefetch: name images, or give --file\n$/],
    [['prefetch', 'Bad Name'], /^registry-mirror: invalid image reference "Bad Name": /],
    [['prefetch', 'ghcr.io/x/y:1'], /^registry-mirror: registry ghcr.io is not served by this mirror/],
    [['prefetch', '--concurrency', '0', 'x'], /^registry-mirror: --concurrency must be a whole number from 1 to 64\n$/],
    [['prefetch', '--platform', 'linux', 'x'], /^registry-mirror: invalid platform "linux": expected os\/architecture/],
  ] as const) {
    const bad = await runCli([...args, ...settings(dir.path)])
    t.equal(bad.code, 1, args.join(' '))
    t.match(bad.stderr, message)
    t.equal(bad.stderr.trim().split('\n').length, 1, 'one line')
  }
})

t.test('a prefetch killed mid-blob completes when run again; the partial blob is never cached', async (t) => {
  const { upstream, proxy, settings, cache } = await site(t)
  const { big } = upstream.fixture.images
  const dir = await cache()
  const layer = big!.blobs.find((b) => b.size > BIG_LAYER_BYTES)!
  proxy.setFault({ kind: 'throttle', bytesPerSecond: 8 * 1024 * 1024 })
  const killed = await startService(process.execPath, entry(['prefetch', 'library/big:1', ...settings(dir.path)]), {
    cwd: root,
    ready: /library\/big:1: .* to transfer/,
  })
  await proxy.forwarded(4 * 1024 * 1024)
  await killed.kill()
  t.notOk((await cached(dir.store, [layer.digest]))[0], 'not cached half way')

  proxy.setFault(undefined)
  const resumed = await runCli(['prefetch', '--pin', 'library/big:1', ...settings(dir.path)])
  t.equal(resumed.code, 0, resumed.stderr)
  const pins = await runCli(['pins', ...settings(dir.path)])
  t.match(pins.stdout.toString(), /^127\.0\.0\.1:\d+\/library\/big:1\t4\n$/, 'pinned: manifest, config, two layers')
  t.ok(
    (
      await cached(
        dir.store,
        big!.blobs.map((b) => b.digest),
      )
    ).every(Boolean),
    'every blob, verified',
  )
  t.same(await readdir(join(dir.path, 'tmp')), [], 'the partial file was swept')
})

t.test('progress: bars on a terminal, plain lines without', async (t) => {
  const { settings, cache } = await site(t)
  const plain = await cache()
  const lines = await runCli(['prefetch', 'library/small:1', ...settings(plain.path)])
  t.equal(lines.code, 0, lines.stderr)
  t.match(lines.stderr, /^127\.0\.0\.1:\d+\/library\/small:1: .* to transfer$/m)
  t.match(lines.stderr, /library\/small:1: sha256:[0-9a-f]{12}, .* new of /)
  t.notOk(lines.stderr.includes('\u001b['), 'no terminal codes')

  const tty = await cache()
  // A wide terminal, so that no frame is cut at the edge.
  const command = ['stty cols 200;', 'node', ...entry(['prefetch', 'library/small:1', ...settings(tty.path)])].join(' ')
  // script gives the command a pseudo-terminal and copies what it draws to our stdout.
  const { stdout } = await run('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: root })
  t.match(stdout, /library\/small:1 \|[█░]+\| +\d+% .*\/s ETA /, 'a bar with bytes, speed and ETA')
  t.match(stdout, /IMAGE\s+DIGEST\s+PLATFORMS\s+SIZE\s+NEW/, 'then the summary')
})
