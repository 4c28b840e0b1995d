import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createSecureContext, type SecureContextOptions } from 'node:tls'

/** The files named by MIRROR_TLS_CERT and MIRROR_TLS_KEY. */
export interface TlsFiles {
  readonly certFile: string
  readonly keyFile: string
}

/** A certificate or key that cannot be served: one line that names the file and says why. */
export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError'
}

/** Enough to tell from a log line which certificate is served and until when. */
export interface CertificateFacts {
  subject: string
  serial: string
  validTo: string
  fingerprint256: string
}

export interface Certificate {
  readonly context: SecureContextOptions
  readonly facts: CertificateFacts
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (e) {
    throw new TlsFilesError(`TLS ${what} ${path}: ${(e as Error).message}`, { cause: e })
  }
}

function parse<T>(path: string, what: string, make: () => T): T {
  try {
    return make()
  } catch (e) {
    // OpenSSL's own words ("PEM routines::no start line") mean little to an operator.
    throw new TlsFilesError(`TLS ${what} ${path}: not a PEM ${what}`, { cause: e })
  }
}

/**
 * Reads the certificate (its chain after it) and the key, and checks them as a server
 * would use them, so a wrong file fails here, at start-up or on reload, and never on a
 * client's handshake.
 */
export async function readCertificate(files: TlsFiles): Promise<Certificate> {
  const [cert, key] = await Promise.all([read(files.certFile, 'certificate'), read(files.keyFile, 'private key')])
  const x509 = parse(files.certFile, 'certificate', () => new X509Certificate(cert))
  const privateKey: KeyObject = parse(files.keyFile, 'private key', () => createPrivateKey(key))
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsFilesError(`TLS private key ${files.keyFile} does not belong to the certificate ${files.certFile}`)
  }
  const context = { cert, key }
  try {
    createSecureContext(context)
  } catch (e) {
    throw new TlsFilesError(`TLS certificate ${files.certFile}: ${(e as Error).message}`, { cause: e })
  }
  return {
    context,
    facts: {
      subject: x509.subject,
      serial: x509.serialNumber,
      validTo: x509.validTo,
      fingerprint256: x509.fingerprint256,
    },
  }
}
