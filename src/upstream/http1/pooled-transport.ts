import type { ProxyRoute } from '../../http/proxy-route.js'
import { Connection, endpointKey, type ConnectionOptions, type Endpoint } from './connection.js'
import { premature, StaleConnection } from './errors.js'
import { nextHop, RedirectRefusedError, type Hop } from '../redirect-policy.js'
import type { PooledResult } from './pooled-body.js'

const MAX_IDLE_PER_ORIGIN = 8

export interface PooledTransportOptions extends ConnectionOptions {
  maxRedirects: number
}

/**
 * GETs whose bodies are read into pooled segments, following redirects, with keep-alive
 * connections per origin. Only bodies framed by Content-Length are read this way; for
 * anything else `get` resolves `{ kind: 'unsupported', reason }` and the caller uses its
 * general HTTP client.
 */
export class PooledTransport {
  private readonly idle = new Map<string, Connection[]>()

  constructor(private readonly options: PooledTransportOptions) {}

  /**
   * `route` names the proxy each hop goes through: a plain-http hop is asked of it in
   * absolute form; an https hop would need a CONNECT tunnel, which this transport leaves
   * to the general client (`proxy-tunnel`), because a socket that TLS wraps afterwards
   * cannot read into pooled segments.
   */
  async get(
    url: URL,
    headers: Record<string, string>,
    signal?: AbortSignal,
    route?: ProxyRoute,
  ): Promise<PooledResult> {
    let hop: Hop = { url, method: 'GET', headers }
    const visited = [url]
    for (;;) {
      const proxy = route?.(hop.url)
      if (proxy !== undefined && hop.url.protocol !== 'http:') return { kind: 'unsupported', reason: 'proxy-tunnel' }
      const response = await this.once({ url: hop.url, proxy }, hop.headers, signal)
      if (response.kind === 'unsupported') return response
      const answer = { status: response.status, location: response.headers.location }
      const step = nextHop(hop, answer, { visited, maxRedirects: this.options.maxRedirects })
      if (step.kind === 'deliver' && step.why === 'not-redirect') return response
      await response.body.dump()
      if (step.kind === 'refuse') throw new RedirectRefusedError(step.message)
      // A redirect not followed (no Location, too many): its body was never read here.
      if (step.kind === 'deliver') {
        return { kind: 'unsupported', reason: step.why === 'limit' ? 'redirect-limit' : 'redirect-no-location' }
      }
      hop = step.hop
      visited.push(hop.url)
    }
  }

  private async once(endpoint: Endpoint, headers: Record<string, string>, signal?: AbortSignal) {
    const path = `${endpoint.url.pathname}${endpoint.url.search}`
    for (;;) {
      const reused = this.takeIdle(endpointKey(endpoint))
      if (reused === undefined) break
      try {
        return await reused.request(path, headers, signal, true)
      } catch (e) {
        reused.socket.destroy()
        if (!(e instanceof StaleConnection)) throw e
      }
    }
    const connection = new Connection(
      endpoint,
      this.options,
      (c) => this.putIdle(c),
      (c) => this.dropIdle(c),
    )
    try {
      return await connection.request(path, headers, signal, false)
    } catch (e) {
      connection.socket.destroy()
      throw e instanceof StaleConnection ? premature(e) : e
    }
  }

  private takeIdle(key: string): Connection | undefined {
    const list = this.idle.get(key)
    let connection = list?.pop()
    while (connection?.socket.destroyed === true) connection = list?.pop()
    return connection
  }

  private putIdle(connection: Connection): void {
    const list = this.idle.get(connection.key) ?? []
    if (list.length >= MAX_IDLE_PER_ORIGIN) {
      connection.socket.destroy()
      return
    }
    list.push(connection)
    this.idle.set(connection.key, list)
  }

  private dropIdle(connection: Connection): void {
    const list = this.idle.get(connection.key)
    const at = list?.indexOf(connection) ?? -1
    if (at >= 0) list!.splice(at, 1)
    if (list?.length === 0) this.idle.delete(connection.key)
  }

  /** Closes idle connections (at shutdown). */
  close(): void {
    for (const list of this.idle.values()) for (const connection of list) connection.socket.destroy()
    this.idle.clear()
  }
}
