import t from 'tap'
import type { CacheListing } from '../../src/cli/ls.js'
import { runCli, settingsOf } from '../helpers/cli.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test('ls lists what the cache holds, by tag, beside the live mirror', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const registry = new URL(upstream.registry.url).host
  const { multi, small } = upstream.fixture.images
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/${multi!.repo}:1`, out.path, ['--override-arch', 'arm64'])
  await skopeoCopy(`${mirror.host}/${small!.repo}:1`, out.path)
  await mirror.app.mirror.blobs.settled()
  await mirror.app.index.pin(`${registry}/${small!.repo}:1`, [small!.digest])

  const json = await runCli(['ls', '--json', ...settingsOf(mirror.config)])
  t.equal(json.code, 0, json.stderr)
  const listing = JSON.parse(json.stdout.toString()) as CacheListing
  const byName = new Map(listing.images.map((i) => [i.name, i]))
  const m = byName.get(`${registry}/library/multi:1`)
  t.equal(m?.digest, multi!.digest, 'the tag names the index')
  t.same(m?.platforms, ['linux/arm64'], 'the platform pulled is held')
  t.same(m?.incompletePlatforms, ['linux/amd64'], 'the other is not')
  t.equal(m?.pinned, false)
  const s = byName.get(`${registry}/library/small:1`)
  t.same(s?.platforms, ['linux/amd64'], "a single manifest's platform comes from its config")
  t.equal(s?.size, small!.size + small!.blobs.reduce((n, b) => n + b.size, 0), 'size: manifest, config and layers')
  t.equal(s?.pinned, true)
  t.equal(s?.upstream, registry)
  t.ok(listing.blobs >= 7 && listing.bytes > s!.size)

  const text = await runCli(['ls', ...settingsOf(mirror.config)])
  t.equal(text.code, 0)
  const lines = text.stdout.toString().split('\n')
  t.match(lines[0], /^IMAGE\s+DIGEST\s+PLATFORMS\s+SIZE\s+LAST PULLED\s+PINNED$/)
  t.ok(lines.some((l) => l.includes('library/multi:1') && l.includes('linux/arm64 (1 of 2)')))
  t.match(text.stdout.toString(), /^2 images; \d+ blobs, .* in /m)
})
