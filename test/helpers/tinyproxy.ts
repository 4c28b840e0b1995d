import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from './ports.js'
import { startService } from './service-process.js'
import { makeTempDir } from './temp-dir.js'

export interface ProxiedRequest {
  method: string
  /** The absolute URL asked for, or `host:port` for a CONNECT. */
  target: string
}

export interface HttpProxy {
  /** The proxy's URL, with the credentials it requires in it. */
  readonly url: string
  readonly port: number
  /** Every request the proxy was asked, from its log, in order. */
  requests(): ProxiedRequest[]
  /** Requests whose target is on `origin` (`http://127.0.0.1:5001`): absolute-form ones by URL, CONNECTs by host:port. */
  requestsTo(origin: string): ProxiedRequest[]
  /** The log as tinyproxy wrote it. */
  log(): string
  close(): Promise<void>
}

// tinyproxy logs each request's line before it connects onwards, so a request the
// mirror got an answer to is always in the log.
const REQUEST_LINE = /Request \(file descriptor \d+\): (\S+) (\S+) HTTP\/1\.[01]/

/**
 * Debian's tinyproxy, a real HTTP proxy (absolute-form requests and CONNECT), on a free
 * loopback port with a temp config; it logs to stdout, where this helper reads it.
 */
export async function startTinyproxy(options: { credentials?: { user: string; password: string } } = {}) {
  const port = await freePort()
  const dir = await makeTempDir('tinyproxy')
  const config = join(dir.path, 'tinyproxy.conf')
  const { credentials } = options
  await writeFile(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      'LogLevel Info',
      'MaxClients 64',
      'Allow 127.0.0.1',
      'DisableViaHeader Yes',
      `PidFile "${join(dir.path, 'tinyproxy.pid')}"`,
      ...(credentials === undefined ? [] : [`BasicAuth ${credentials.user} ${credentials.password}`]),
      '',
    ].join('\n'),
  )
  let service
  try {
    service = await startService('tinyproxy', ['-d', '-c', config], { ready: /Accepting connections/ })
  } catch (e) {
    await dir.remove()
    throw e
  }
  const auth = credentials === undefined ? '' : `${credentials.user}:${credentials.password}@`
  const requests = (): ProxiedRequest[] =>
    service
      .stdout()
      .split('\n')
      .flatMap((line) => {
        const m = REQUEST_LINE.exec(line)
        return m === null ? [] : [{ method: m[1]!, target: m[2]! }]
      })
  const proxy: HttpProxy = {
    url: `http://${auth}127.0.0.1:${port}`,
    port,
    requests,
    requestsTo: (origin) => {
      const host = new URL(origin).host
      return requests().filter((r) =>
        r.method === 'CONNECT' ? r.target === host : r.target === origin || r.target.startsWith(`${origin}/`),
      )
    },
    log: () => service.stdout() + service.stderr(),
    close: async () => {
      await service.close()
      await dir.remove()
    },
  }
  return proxy
}
