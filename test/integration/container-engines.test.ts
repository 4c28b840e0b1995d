// The real engines sites point at the mirror: containerd with a hosts.toml mirror,
// dockerd with --registry-mirror and podman with a registries.conf mirror, all pulling
// docker.io names that the mirror serves from the local upstream. They need root and the
// Debian packages docker.io, containerd and podman.
import t, { type Test } from 'tap'
import { ALICE } from '../helpers/credentials.js'
import { enginesUnavailable, podmanFor, startEngines, writeHostsDir } from '../helpers/container-engines.js'
import { SECOND_NAME } from '../helpers/second-upstream.js'
import { startStack, startTwoUpstreams } from '../helpers/setup.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const unavailable = enginesUnavailable()
if (unavailable !== undefined) {
  t.plan(0, unavailable)
} else {
  // containerd names the registry it mirrors in ?ns=: the upstream goes by Docker Hub's name.
  const stack = await startStack(t, { settings: { upstreamName: 'docker.io' } })
  const { upstream, mirror } = stack
  const daemons = await startEngines(t, mirror.url)

  if (daemons !== undefined) {
    const { containerd, dockerd } = daemons

    t.test(
      'containerd pulls through its hosts.toml mirror; Docker then gets the same blobs from the cache',
      async (t) => {
        const multi = upstream.fixture.images.multi!
        await containerd.pull(`docker.io/${multi.repo}:1`)
        t.ok(
          mirror.logs.some((l) => typeof l.url === 'string' && l.url.includes('ns=docker.io')),
          'containerd sent its ?ns=docker.io and was answered',
        )
        const blobGets = upstream.registry.blobGets().length
        t.ok(blobGets > 0, 'the cold pull fetched blobs from the upstream')

        await dockerd.pull(`${multi.repo}:1`)
        t.equal(await dockerd.repoDigest(`${multi.repo}:1`), multi.digest, "Docker recorded the index's digest")
        t.equal(upstream.registry.blobGets().length, blobGets, 'the second client made no blob request upstream')
      },
    )

    t.test('Docker pulls a schema2 image and a Docker manifest list through registry-mirrors', async (t) => {
      const docker2 = upstream.fixture.images.docker2!
      await dockerd.pull(`${docker2.repo}:1`)
      t.equal(await dockerd.repoDigest(`${docker2.repo}:1`), docker2.digest, "the schema2 manifest's digest")
      await mirror.app.mirror.blobs.settled()
      for (const blob of docker2.blobs) {
        t.ok(await mirror.app.store.stat(blob.digest), `${blob.digest.slice(0, 19)}… cached`)
      }
      const dlist = upstream.fixture.images.dlist!
      await dockerd.pull(`${dlist.repo}:1`)
      t.equal(await dockerd.repoDigest(`${dlist.repo}:1`), dlist.digest, "the manifest list's digest")
    })

    /** Nothing of the private image but the layer it shares with a public one is stored. */
    const assertPrivateNotStored = async (t: Test) => {
      const secret = upstream.fixture.images.private!
      const small = upstream.fixture.images.small!
      await mirror.app.mirror.blobs.settled()
      const privateOnly = [secret.digest, ...secret.blobs.map((b) => b.digest)].filter(
        (d) => !small.blobs.some((s) => s.digest === d),
      )
      for (const digest of privateOnly) {
        t.equal(await mirror.app.store.stat(digest), undefined, `${digest.slice(0, 19)}… not on disk`)
        t.equal(await mirror.app.index.getBlob(digest), undefined, `${digest.slice(0, 19)}… not in the index`)
      }
    }

    t.test("Docker with the user's saved login pulls a private image; nothing of it is stored", async (t) => {
      const secret = upstream.fixture.images.private!
      await dockerd.pull(`${secret.repo}:1`, ALICE)
      t.equal(await dockerd.repoDigest(`${secret.repo}:1`), secret.digest, 'the private image, as the upstream has it')
      await assertPrivateNotStored(t)
    })

    t.test('containerd with credentials pulls a private image by the OAuth2 password grant', async (t) => {
      const secret = upstream.fixture.images.private!
      const before = upstream.tokens.requests.length
      await containerd.pull(`docker.io/${secret.repo}:1`, ALICE)
      t.ok(
        upstream.tokens.requests
          .slice(before)
          .some((r) => r.method === 'POST' && r.user === ALICE.user && r.status === 200),
        "the user's token came from the realm by a POSTed password grant, through the mirror's /token",
      )
      await assertPrivateNotStored(t)
    })

    t.test(
      "containerd with a hosts.toml per registry, both naming the mirror, gets each registry's own image",
      async (t) => {
        const two = await startTwoUpstreams(t)
        const dir = await makeTempDir('hosts-dir')
        t.teardown(() => dir.remove())
        await writeHostsDir(dir.path, two.mirror.url, ['docker.io', SECOND_NAME])
        await containerd.pull('docker.io/library/small:1', undefined, dir.path)
        await containerd.pull(`${SECOND_NAME}/library/small:1`, undefined, dir.path)
        t.equal(await containerd.digest('docker.io/library/small:1'), two.upstream.fixture.images.small!.digest)
        t.equal(await containerd.digest(`${SECOND_NAME}/library/small:1`), two.second.fixture.small.digest)
        const asked = two.mirror.logs.filter((l) => l.msg === 'request' && typeof l.url === 'string')
        t.ok(
          asked.some((l) => (l.url as string).includes(`ns=${SECOND_NAME}`) && l.status === 200),
          'the second registry was named by its ns and answered',
        )
        t.ok(two.second.registry.blobGets().length > 0, 'its blobs came from the second upstream')
      },
    )

    t.test(
      'podman with a mirror per registry, each by its registry prefix on the mirror, gets each one its own image',
      async (t) => {
        const two = await startTwoUpstreams(t)
        // containers/image sends no ns: the mirror location carries the registry as a path prefix.
        const podman = await podmanFor(two.mirror.host, [
          { prefix: 'docker.io', location: 'registry-1.docker.io', mirror: `${two.mirror.host}/docker.io` },
          { prefix: SECOND_NAME, location: SECOND_NAME, mirror: `${two.mirror.host}/${SECOND_NAME}` },
        ])
        t.teardown(() => podman.close())
        await podman.pull('docker.io/library/small:1')
        await podman.pull(`${SECOND_NAME}/library/small:1`)
        t.equal(await podman.digest('docker.io/library/small:1'), two.upstream.fixture.images.small!.digest)
        t.equal(await podman.digest(`${SECOND_NAME}/library/small:1`), two.second.fixture.small.digest)
      },
    )

    t.test(
      'podman pulls through its registries.conf mirror, and a private image with the login it keeps for the mirror host',
      async (t) => {
        const podman = await podmanFor(mirror.host)
        t.teardown(() => podman.close())
        const small = upstream.fixture.images.small!
        const blobGets = upstream.registry.blobGets().length
        await podman.pull(`docker.io/${small.repo}:1`)
        await podman.pull(`docker.io/${upstream.fixture.images.private!.repo}:1`, ALICE)
        await assertPrivateNotStored(t)
        t.ok(
          upstream.registry.blobGets().length > blobGets,
          'the private layers came from the upstream, streamed through',
        )
      },
    )
  }
}
