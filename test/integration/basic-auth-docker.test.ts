// Docker, logged in to the mirror, pulls a private image from a Basic-auth registry the
// mirror serves beside a token-auth default, by its host as a path prefix. Docker takes
// the scheme of the mirror's `/v2/` ping (the default's Bearer challenge) for every
// repository, so its Basic credentials reach the Basic registry only through the token
// the mirror seals them in. Needs root and the Debian packages docker.io and containerd.
import t from 'tap'
import { assertPrivateImageNotStored } from '../helpers/cache-assertions.js'
import { ALICE } from '../helpers/credentials.js'
import { enginesUnavailable, startContainerd, startDockerd } from '../helpers/container-engines.js'
import { startMirror } from '../helpers/mirror.js'
import { settledAccessLog } from '../helpers/registry.js'
import { startBasicSecondUpstream } from '../helpers/second-upstream.js'
import { startUpstream } from '../helpers/upstream.js'

/** A registry host without a port: Docker takes it as the first component of the path. */
const BASIC_NAME = 'registry.basic.test'

const unavailable = enginesUnavailable()
if (unavailable !== undefined) {
  t.plan(0, unavailable)
} else {
  t.test('docker login to the mirror, then docker pull <mirror>/registry.basic.test/…', async (t) => {
    const upstream = await startUpstream()
    t.teardown(() => upstream.close())
    const second = await startBasicSecondUpstream(t, [ALICE])
    const mirror = await startMirror({
      upstream: upstream.registry.url,
      settings: {
        upstreamName: 'docker.io',
        defaultNamespace: 'library',
        upstreams: [{ name: BASIC_NAME, url: second.registry.url }],
      },
    })
    t.teardown(() => mirror.close())
    // The packages are here: the daemons must start, or the test fails.
    const containerd = await startContainerd(mirror.url)
    t.teardown(() => containerd.close())
    const dockerd = await startDockerd(mirror.url, containerd)
    t.teardown(() => dockerd.close())

    const { small } = second.fixture
    // Docker reaches a registry on 127.0.0.0/8 over plain HTTP without configuration.
    const image = `${mirror.host}/${BASIC_NAME}/${small.repo}:${small.tag}`
    await t.rejects(dockerd.pull(image), /unauthorized|401|no basic auth credentials/i, 'not logged in: no pull')

    await dockerd.login(mirror.host, ALICE)
    await dockerd.pullLoggedIn(image, ALICE)
    t.equal(await dockerd.repoDigest(image), small.digest, "Docker recorded the Basic registry's manifest")
    const log = await settledAccessLog(second.registry)
    // Docker resolves the tag with a HEAD, then GETs the manifest by digest.
    t.ok(
      log.some((e) => e.path === `/v2/${small.repo}/manifests/${small.digest}` && e.status === 200),
      "the Basic registry served the manifest to alice's credentials",
    )
    for (const blob of small.blobs) {
      t.ok(
        log.some((e) => e.path === `/v2/${small.repo}/blobs/${blob.digest}` && e.status === 200),
        `and ${blob.digest.slice(0, 19)}…`,
      )
    }

    await assertPrivateImageNotStored(t, mirror, BASIC_NAME, small)
  })
}
