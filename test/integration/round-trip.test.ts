import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { runCli, settingsOf } from '../helpers/cli.js'
import { sha256 } from '../helpers/http.js'
import { startMirror, testConfig, withRedis } from '../helpers/mirror.js'
import { startRedis } from '../helpers/redis.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test(
  'round trip: fill a connected mirror, export, import into a fresh cache, serve without the upstream',
  async (t) => {
    const { upstream, mirror } = await startStack(t)
    const images = upstream.fixture.images
    const names = ['multi', 'dlist', 'small', 'docker2'] as const
    const work = await makeTempDir('round-trip')
    t.teardown(work.remove)
    for (const name of names) {
      await skopeoCopy(`${mirror.host}/${images[name]!.repo}:1`, join(work.path, `pull-${name}`), ['--all'])
    }
    await mirror.app.mirror.blobs.settled()
    const bundle = join(work.path, 'site.tar')
    const exported = await runCli(['export', '--all', '--out', bundle, ...settingsOf(mirror.config)])
    t.equal(exported.code, 0, exported.stderr)

    // The disconnected site: its own cache dir (and Redis), the same upstream setting.
    const site = await makeTempDir('site')
    t.teardown(site.remove)
    const redis = withRedis ? await startRedis() : undefined
    t.teardown(() => redis?.close())
    const settings = redis === undefined ? {} : { redisUrl: redis.url }
    const siteConfig = testConfig(mirror.config.upstream.url, site.path, settings)
    const imported = await runCli(['import', bundle, ...settingsOf(siteConfig)])
    t.equal(imported.code, 0, imported.stderr)
    t.match(imported.stdout.toString(), /added \d+ blobs/)

    // The site serves offline, its upstream setting naming a registry it cannot reach.
    await upstream.stopRegistry()
    await upstream.tokens.close()
    const served = await startMirror({
      upstream: mirror.config.upstream.url,
      cacheDir: site.path,
      settings: { ...settings, offline: true },
    })
    t.teardown(() => served.stop())
    for (const name of names) {
      const out = join(work.path, `served-${name}`)
      await skopeoCopy(`${served.host}/${images[name]!.repo}:1`, out, ['--all'])
      const digests = await verifyDirLayout(out)
      t.ok(
        images[name]!.blobs.every((b) => digests.includes(b.digest)),
        `${name}: every blob, byte-exact`,
      )
      t.equal(
        sha256(await readFile(join(out, 'manifest.json'))),
        images[name]!.digest,
        `${name}: the upstream's manifest`,
      )
    }
  },
)
