import type { RequestListener } from 'node:http'
import { createServer, type Server } from 'node:https'
import { withFastifyTimeouts } from '../http/server-timeouts.js'
import type { Logger } from '../logger.js'
import { readCertificate, type Certificate, type CertificateFacts, type TlsFiles } from './certificate.js'

/**
 * The main listener over TLS: the server made to present the certificate, and the reload
 * of its files. The factory is fastify's `serverFactory`, so that the one server it makes
 * is the one reloaded (fastify's own `https` option may make several for one address).
 */
export class HttpsServing {
  #server: Server | undefined

  private constructor(
    private readonly files: TlsFiles,
    private readonly initial: Certificate,
  ) {}

  /** Reads the files at start-up: a certificate that will not do stops the start (TlsFilesError). */
  static async open(files: TlsFiles): Promise<HttpsServing> {
    return new HttpsServing(files, await readCertificate(files))
  }

  get facts(): CertificateFacts {
    return this.initial.facts
  }

  /**
   * HTTP/1.1 only, no h2 by ALPN: the clients of registries speak HTTP/1.1, and the mirror
   * signals a blob cut short by closing the connection, which HTTP/2 would turn into a
   * stream reset on a connection other transfers share. The timeouts are those fastify
   * sets on the servers it makes itself.
   */
  readonly factory = (handler: RequestListener, options: Record<string, unknown>): Server => {
    const server = createServer({ ...this.initial.context, ALPNProtocols: ['http/1.1'] }, handler)
    withFastifyTimeouts(server, options)
    this.#server = server
    return server
  }

  /**
   * Reads the files again (SIGHUP) and presents the new certificate to new connections,
   * those open keeping theirs. Files that do not read or match keep the old certificate:
   * a renewal half-written must not take the mirror down. Never throws.
   */
  async reload(log: Logger): Promise<boolean> {
    try {
      const certificate = await readCertificate(this.files)
      this.#server?.setSecureContext(certificate.context)
      log.info({ certificate: certificate.facts }, 'TLS certificate reloaded')
      return true
    } catch (e) {
      log.error({ err: e }, 'TLS certificate not reloaded; still serving the previous one')
      return false
    }
  }
}
