import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { freePort } from './ports.js'
import { startService, type ServiceProcess } from './service-process.js'
import { makeTempDir } from './temp-dir.js'
import { waitFor } from './wait.js'
import { TOKEN_ISSUER, TOKEN_SERVICE, type TokenServer } from './token-server.js'

export interface AccessLogEntry {
  method: string
  path: string
  status: number
}

export interface Registry {
  readonly url: string
  readonly storageDir: string
  readonly pid: number
  /** For a registry serving HTTPS: the CA that signed its certificate. */
  readonly ca: Buffer | undefined
  /** Requests the registry served, from its own access log. */
  accessLog(): AccessLogEntry[]
  /** GETs of blob content (not HEADs, not 401 challenges), optionally for one digest. */
  blobGets(digest?: string): AccessLogEntry[]
  readonly close: () => Promise<void>
  readonly kill: () => Promise<void>
}

export interface RegistryOptions {
  storageDir: string
  tokenServer?: TokenServer
  /** Distribution's pull-through proxy mode, for the benchmark. */
  proxy?: { remoteUrl: string; username?: string; password?: string }
  port?: number
  /** Keep no output once ready (a benchmark's access log would fill memory). */
  quiet?: boolean
  /** Serve HTTPS with this certificate; `ca`, the CA that signed it, for the helpers' own requests. */
  tls?: { certFile: string; keyFile: string; ca?: Buffer }
  /** CA certificates the registry trusts, as a PEM file: a proxy's TLS upstream. */
  trust?: string
  /** Basic auth: an htpasswd file of bcrypt hashes (the only kind Distribution reads). */
  htpasswd?: string
}

/** The realm of a registry's Basic challenge when it is given an htpasswd file. */
export const BASIC_REALM = 'basic-test-realm'

// Distribution writes a combined-format access log line per request on stdout.
const ACCESS_LINE = /"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/

function registryConfig(options: RegistryOptions, port: number): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(options.storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: registry-mirror-test-secret',
  ]
  if (options.tls !== undefined) {
    lines.push(
      '  tls:',
      `    certificate: ${JSON.stringify(options.tls.certFile)}`,
      `    key: ${JSON.stringify(options.tls.keyFile)}`,
    )
  }
  if (options.tokenServer !== undefined) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(options.tokenServer.realm)}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(options.tokenServer.certPath)}`,
    )
  }
  if (options.htpasswd !== undefined) {
    lines.push('auth:', '  htpasswd:', `    realm: ${BASIC_REALM}`, `    path: ${JSON.stringify(options.htpasswd)}`)
  }
  if (options.proxy !== undefined) {
    lines.push('proxy:', `  remoteurl: ${JSON.stringify(options.proxy.remoteUrl)}`)
    if (options.proxy.username !== undefined) {
      lines.push(`  username: ${JSON.stringify(options.proxy.username)}`)
      lines.push(`  password: ${JSON.stringify(options.proxy.password ?? '')}`)
    }
  }
  return lines.join('\n') + '\n'
}

/** The real CNCF Distribution registry (Debian's docker-registry) on a free loopback port. */
export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const port = options.port ?? (await freePort())
  const confDir = await makeTempDir('registry-conf')
  const configPath = join(confDir.path, 'config.yml')
  await writeFile(configPath, registryConfig(options, port))
  let service: ServiceProcess
  try {
    service = await startService('docker-registry', ['serve', configPath], {
      ready: /listening on 127\.0\.0\.1:\d+/,
      forgetOutputWhenReady: options.quiet,
      // Go reads its trusted roots from SSL_CERT_FILE.
      env: {
        ...process.env,
        OTEL_TRACES_EXPORTER: 'none',
        ...(options.trust === undefined ? {} : { SSL_CERT_FILE: options.trust }),
      },
    })
  } catch (e) {
    await confDir.remove()
    throw e
  }
  const accessLog = (): AccessLogEntry[] =>
    service
      .stdout()
      .split('\n')
      .flatMap((line) => {
        const m = ACCESS_LINE.exec(line)
        return m === null ? [] : [{ method: m[1]!, path: m[2]!, status: Number(m[3]) }]
      })
  const stop = async (how: 'close' | 'kill'): Promise<void> => {
    await (how === 'close' ? service.close() : service.kill())
    await confDir.remove()
  }
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    storageDir: options.storageDir,
    pid: service.proc.pid!,
    ca: options.tls?.ca,
    accessLog,
    blobGets: (digest) =>
      accessLog().filter(
        (e) =>
          e.method === 'GET' &&
          e.status !== 401 &&
          e.path.includes('/blobs/') &&
          !e.path.includes('/blobs/uploads/') &&
          (digest === undefined || e.path.includes(digest)),
      ),
    close: () => stop('close'),
    kill: () => stop('kill'),
  }
}

const MARK = '/v2/access-log-mark-'

/**
 * Every request the registry has logged so far. The log is written after each answer, so
 * a marker request is sent and awaited in it: nothing the registry answered before it is
 * missed. Marker requests are left out.
 */
export async function settledAccessLog(registry: Registry): Promise<AccessLogEntry[]> {
  const marker = `${MARK}${randomUUID()}/tags/list`
  const dispatcher = registry.ca === undefined ? undefined : new Agent({ connect: { ca: registry.ca } })
  try {
    await (await request(`${registry.url}${marker}`, { dispatcher })).body.dump()
  } finally {
    await dispatcher?.close()
  }
  await waitFor(() => registry.accessLog().some((e) => e.path === marker), 5000, 'the marker in the access log')
  return registry.accessLog().filter((e) => !e.path.startsWith(MARK))
}
