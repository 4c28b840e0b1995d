import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { readCertificate, TlsFilesError } from '../../src/tls/certificate.js'
import { makeTestCa } from '../helpers/tls-ca.js'

const ca = await makeTestCa()
t.teardown(ca.remove)
const [one, other] = [await ca.issue('one'), await ca.issue('other')]
const empty = join(ca.certDir, 'empty.pem')
await writeFile(empty, '')

t.test('a certificate and its key: read, with what identifies it', async (t) => {
  const certificate = await readCertificate({ certFile: one.certFile, keyFile: one.keyFile })
  t.equal(certificate.facts.serial, one.serial)
  t.equal(certificate.facts.fingerprint256, one.fingerprint256)
  t.equal(certificate.facts.subject, 'CN=one')
  t.match(certificate.facts.validTo, /GMT$/)
})

t.test('files that will not do: one line naming the file and why', async (t) => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['no such certificate', join(ca.certDir, 'nope.crt'), one.keyFile, /^TLS certificate .*nope\.crt: ENOENT/],
    ['no such key', one.certFile, join(ca.certDir, 'nope.key'), /^TLS private key .*nope\.key: ENOENT/],
    ['a key as the certificate', one.keyFile, one.keyFile, /^TLS certificate .*one\.key: not a PEM certificate$/],
    ['an empty certificate', empty, one.keyFile, /^TLS certificate .*empty\.pem: not a PEM certificate$/],
    ['a certificate as the key', one.certFile, one.certFile, /^TLS private key .*one\.crt: not a PEM private key$/],
    [
      'the key of another',
      one.certFile,
      other.keyFile,
      /^TLS private key .*other\.key does not belong to the certificate .*one\.crt$/,
    ],
  ]
  for (const [what, certFile, keyFile, message] of cases) {
    const error = await readCertificate({ certFile, keyFile }).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(error, TlsFilesError, what)
    t.match((error as Error).message, message, what)
    t.notOk((error as Error).message.includes('\n'), `${what}: one line`)
  }
})
