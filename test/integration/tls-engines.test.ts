// containerd and Docker pull through the mirror over HTTPS, each trusting it by a CA made
// here, the way a site sets it up: `ca` in containerd's hosts.toml, and Docker's certs.d.
// Docker skips certificate checks for 127.0.0.0/8, so the mirror listens on ::1, where it
// checks them. Both fall back to Docker Hub (unreachable here) when the mirror's
// certificate is refused, so a pull that succeeds went through the mirror over verified TLS.
import t from 'tap'
import { enginesUnavailable, startEngines } from '../helpers/container-engines.js'
import { startStack } from '../helpers/setup.js'
import { makeTestCa } from '../helpers/tls-ca.js'

const unavailable = enginesUnavailable()
if (unavailable !== undefined) {
  t.plan(0, unavailable)
} else {
  const ca = await makeTestCa()
  t.teardown(ca.remove)
  const certificate = await ca.issue('mirror')
  const { upstream, mirror } = await startStack(t, {
    // containerd names the registry it mirrors in ?ns=: the upstream goes by Docker Hub's name.
    settings: { tlsCert: certificate.certFile, tlsKey: certificate.keyFile, upstreamName: 'docker.io' },
    host: '::1',
  })
  const daemons = await startEngines(t, mirror.url, { caFile: ca.caFile })

  if (daemons !== undefined) {
    const { containerd, dockerd } = daemons

    t.test('containerd pulls over HTTPS with the CA named in hosts.toml', async (t) => {
      t.match(mirror.url, /^https:\/\/\[::1\]:\d+$/)
      const multi = upstream.fixture.images.multi!
      await containerd.pull(`docker.io/${multi.repo}:1`)
      t.ok(
        mirror.logs.some((l) => typeof l.url === 'string' && l.url.startsWith(`/v2/${multi.repo}/manifests/1`)),
        'the manifest came from the mirror',
      )
      t.ok(upstream.registry.blobGets().length > 0, 'and its blobs, from the upstream through the mirror')
    })

    t.test('Docker pulls over HTTPS with the CA in its certs.d', async (t) => {
      const small = upstream.fixture.images.small!
      await dockerd.pull(`${small.repo}:1`)
      t.equal(await dockerd.repoDigest(`${small.repo}:1`), small.digest)
      await mirror.app.mirror.blobs.settled()
      for (const blob of small.blobs) {
        t.ok(await mirror.app.store.stat(blob.digest), `${blob.digest.slice(0, 19)}… cached`)
      }
    })
  }
}
