import { once } from 'node:events'
import { copyFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect } from 'node:tls'
import t from 'tap'
import { spawnMirror } from '../helpers/mirror-process.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { makeTestCa, type ServerCertificate } from '../helpers/tls-ca.js'

const ca = await makeTestCa()
t.teardown(ca.remove)
const dir = await makeTempDir('served-tls')
t.teardown(dir.remove)
const certFile = join(dir.path, 'tls.crt')
const keyFile = join(dir.path, 'tls.key')

/** What a renewal does: new files in place of the old. */
async function install(certificate: ServerCertificate): Promise<void> {
  await copyFile(certificate.certFile, certFile)
  await copyFile(certificate.keyFile, keyFile)
}

/** The serial of the certificate a new TLS connection is shown. */
async function presented(port: number): Promise<string | undefined> {
  const socket = connect({ host: '127.0.0.1', port, ca: ca.ca, servername: 'localhost' })
  await once(socket, 'secureConnect')
  const serial = socket.getPeerX509Certificate()?.serialNumber
  socket.destroy()
  return serial
}

t.test('SIGHUP reads the certificate again; files that will not do keep the old one', async (t) => {
  const [first, second, third] = [await ca.issue('first'), await ca.issue('second'), await ca.issue('third')]
  await install(first)
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)
  // No upstream is needed to be shown a certificate: the mirror starts without one reachable.
  const mirror = await spawnMirror([
    '--upstream',
    'http://127.0.0.1:9',
    '--cache-dir',
    cache.path,
    '--tls-cert',
    certFile,
    '--tls-key',
    keyFile,
  ])
  t.teardown(() => mirror.service.kill())
  t.equal(await presented(mirror.port), first.serial, 'the first certificate')

  await install(second)
  const reloaded = mirror.nextLog(/TLS certificate reloaded/)
  mirror.service.proc.kill('SIGHUP')
  t.match(await reloaded, second.serial)
  t.equal(await presented(mirror.port), second.serial, 'a new connection is shown the new certificate')

  await writeFile(certFile, 'half-written\n')
  const refused = mirror.nextLog(/TLS certificate not reloaded/)
  mirror.service.proc.kill('SIGHUP')
  t.match(await refused, /not a PEM certificate/)
  t.equal(await presented(mirror.port), second.serial, 'a file that does not parse keeps the old certificate')

  await copyFile(third.certFile, certFile)
  const mismatched = mirror.nextLog(/TLS certificate not reloaded/)
  mirror.service.proc.kill('SIGHUP')
  t.match(await mismatched, /does not belong to the certificate/)
  t.equal(await presented(mirror.port), second.serial, 'nor does a key of another certificate')

  await install(third)
  const healed = mirror.nextLog(/TLS certificate reloaded/)
  mirror.service.proc.kill('SIGHUP')
  await healed
  t.equal(await presented(mirror.port), third.serial, 'and the next good files are served')

  mirror.service.proc.kill('SIGTERM')
  t.same(await mirror.exited(), { code: 0, signal: null }, 'the mirror ran throughout, and stops cleanly')
})

t.test('without TLS, SIGHUP changes nothing and the mirror keeps serving', async (t) => {
  const cache = await makeTempDir('cache')
  t.teardown(cache.remove)
  const mirror = await spawnMirror(['--upstream', 'http://127.0.0.1:9', '--cache-dir', cache.path])
  t.teardown(() => mirror.service.kill())
  const noted = mirror.nextLog(/nothing to reload/)
  mirror.service.proc.kill('SIGHUP')
  await noted
  const health = await fetch(`${mirror.url}/healthz`)
  t.equal(health.status, 200)
  mirror.service.proc.kill('SIGTERM')
  t.same(await mirror.exited(), { code: 0, signal: null })
})
