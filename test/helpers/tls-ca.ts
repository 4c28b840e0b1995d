import { execFile } from 'node:child_process'
import { X509Certificate, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { makeTempDir } from './temp-dir.js'

const run = promisify(execFile)

export interface ServerCertificate {
  readonly certFile: string
  readonly keyFile: string
  /** As Node's X509Certificate reports it, to tell which certificate a server presented. */
  readonly serial: string
  readonly fingerprint256: string
}

export interface TestCa {
  /** The CA's certificate, as clients are given it to trust. */
  readonly caFile: string
  readonly ca: Buffer
  /** A dir holding only `ca.crt`: what skopeo's --cert-dir and Docker's certs.d read. */
  readonly certDir: string
  /** A new server certificate (a new key and serial each time) for 127.0.0.1, ::1 and localhost. */
  readonly issue: (name: string) => Promise<ServerCertificate>
  readonly remove: () => Promise<void>
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

/** A CA made by openssl in a temp dir for one test, and server certificates it signs. */
export async function makeTestCa(): Promise<TestCa> {
  const dir = await makeTempDir('tls')
  const caFile = join(dir.path, 'ca.crt')
  const caKey = join(dir.path, 'ca.key')
  await run('openssl', [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=registry-mirror test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  const certDir = join(dir.path, 'trust')
  await mkdir(certDir)
  await writeFile(join(certDir, 'ca.crt'), await readFile(caFile))
  const extensions = join(dir.path, 'server.ext')
  await writeFile(
    extensions,
    [
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  )
  return {
    caFile,
    ca: await readFile(caFile),
    certDir,
    issue: async (name) => {
      const keyFile = join(dir.path, `${name}.key`)
      const csr = join(dir.path, `${name}.csr`)
      const certFile = join(dir.path, `${name}.crt`)
      await run('openssl', ['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`])
      const serial = `0x${randomBytes(8).toString('hex')}`
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caFile,
        '-CAkey',
        caKey,
        '-set_serial',
        serial,
        '-days',
        '2',
        '-extfile',
        extensions,
        '-out',
        certFile,
      ])
      const x509 = new X509Certificate(await readFile(certFile))
      return { certFile, keyFile, serial: x509.serialNumber, fingerprint256: x509.fingerprint256 }
    },
    remove: dir.remove,
  }
}
