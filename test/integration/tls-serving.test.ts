import { connect } from 'node:tls'
import { once } from 'node:events'
import t from 'tap'
import { Agent, request } from 'undici'
import { findBearer } from '../../src/auth/www-authenticate.js'
import { freePort } from '../helpers/ports.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'
import { skopeo, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTestCa } from '../helpers/tls-ca.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const ca = await makeTestCa()
t.teardown(ca.remove)
const certificate = await ca.issue('mirror')
const metricsPort = await freePort()
const { upstream, mirror } = await startStack(t, {
  settings: {
    tlsCert: certificate.certFile,
    tlsKey: certificate.keyFile,
    metricsListen: `127.0.0.1:${metricsPort}`,
  },
})
const trusting = new Agent({ connect: { ca: ca.ca } })
t.teardown(() => trusting.close())

t.test('skopeo pulls over HTTPS, trusting the mirror by the CA in its --src-cert-dir', async (t) => {
  const small = upstream.fixture.images.small!
  const target = await makeTempDir('skopeo')
  t.teardown(target.remove)
  const source = `docker://${mirror.host}/${small.repo}:1`
  await skopeo(['copy', '--quiet', '--retry-times=0', '--src-cert-dir', ca.certDir, source, `dir:${target.path}`])
  const digests = await verifyDirLayout(target.path)
  t.same(digests.sort(), small.blobs.map((b) => b.digest).sort(), 'every blob, byte for byte')

  const untrusted = await makeTempDir('skopeo')
  t.teardown(untrusted.remove)
  await t.rejects(
    skopeo(['copy', '--quiet', '--retry-times=0', source, `dir:${untrusted.path}`]),
    /x509|certificate/,
    'without the CA the certificate is refused: the pull above verified it',
  )
})

t.test('the token realm the mirror announces is https', async (t) => {
  const ping = await request(`${mirror.url}/v2/`, { dispatcher: trusting })
  await ping.body.dump()
  t.equal(ping.statusCode, 401)
  const challenge = findBearer(ping.headers['www-authenticate'])
  t.equal(challenge?.realm, `https://${mirror.host}/token`)
  const secret = upstream.fixture.images.private!
  const refused = await request(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
    dispatcher: trusting,
    headers: { accept: ACCEPT_ALL },
  })
  await refused.body.dump()
  t.equal(findBearer(refused.headers['www-authenticate'])?.realm, `https://${mirror.host}/token`)
})

t.test('HTTP/1.1 is what the mirror offers by ALPN, even to a client that prefers h2', async (t) => {
  const socket = connect({
    host: '127.0.0.1',
    port: Number(new URL(mirror.url).port),
    ca: ca.ca,
    ALPNProtocols: ['h2', 'http/1.1'],
  })
  await once(socket, 'secureConnect')
  t.equal(socket.alpnProtocol, 'http/1.1')
  t.equal(socket.getPeerX509Certificate()?.serialNumber, certificate.serial, 'the configured certificate')
  socket.destroy()
})

t.test('the metrics listener stays plain HTTP', async (t) => {
  await mirror.app.metricsServer!.listen({ host: '127.0.0.1', port: metricsPort })
  const metrics = await request(`http://127.0.0.1:${metricsPort}/metrics`)
  t.equal(metrics.statusCode, 200)
  t.match(await metrics.body.text(), /registry_mirror_/)
})

t.test('plain HTTP on the TLS port is not served', async (t) => {
  await t.rejects(request(`http://${mirror.host}/v2/`), 'the connection is closed without an answer in clear')
})
