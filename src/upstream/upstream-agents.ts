import { Agent, Dispatcher, Pool, ProxyAgent } from 'undici'
import type { ProxyRoute } from '../http/proxy-route.js'

export interface UpstreamTimeouts {
  connectMs: number
  /** The longest wait for a response's head, and the longest silence within its body. */
  timeoutMs: number
}

/**
 * The connections to the upstreams, shared by all of them: one agent for requests that
 * go direct and one per proxy. Each upstream sends through `routed(its route)`.
 */
export class UpstreamAgents {
  private readonly direct: Agent
  private readonly proxies = new Map<string, ProxyAgent>()

  constructor(private readonly timeouts: UpstreamTimeouts) {
    this.direct = new Agent({
      connect: { timeout: timeouts.connectMs },
      headersTimeout: timeouts.timeoutMs,
      bodyTimeout: timeouts.timeoutMs,
    })
  }

  /** Sends each request (each redirect hop too) direct or through the proxy `route` names for its URL. */
  routed(route: ProxyRoute): Dispatcher {
    return new RoutedDispatcher(route, (proxy) => this.via(proxy))
  }

  /** The agent for requests through `proxy`, or direct. */
  via(proxy: URL | undefined): Dispatcher {
    if (proxy === undefined) return this.direct
    let agent = this.proxies.get(proxy.href)
    if (agent === undefined) {
      agent = this.proxyAgent(proxy)
      this.proxies.set(proxy.href, agent)
    }
    return agent
  }

  private proxyAgent(proxy: URL): ProxyAgent {
    const { connectMs, timeoutMs } = this.timeouts
    // undici's wrapper for absolute-form requests builds its pool with `factory` and no
    // other option: the timeouts are given there, so they hold on every path.
    const factory = (origin: string | URL, options: object) =>
      new Pool(origin, { ...options, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    return new ProxyAgent({
      uri: proxy.href,
      // Plain-http targets as absolute-form requests, which any HTTP proxy serves;
      // https targets through a CONNECT tunnel.
      proxyTunnel: false,
      factory,
      clientFactory: factory,
      proxyTls: { timeout: connectMs },
      requestTls: { timeout: connectMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
  }

  async close(): Promise<void> {
    await Promise.all([this.direct.close(), ...[...this.proxies.values()].map((agent) => agent.close())])
  }
}

/** One upstream's view of the agents; closing it is for their owner. */
class RoutedDispatcher extends Dispatcher {
  constructor(
    private readonly route: ProxyRoute,
    private readonly via: (proxy: URL | undefined) => Dispatcher,
  ) {
    super()
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const proxy = options.origin === undefined ? undefined : this.route(new URL(options.origin))
    return this.via(proxy).dispatch(options, handler)
  }

  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    if (callback === undefined) return Promise.resolve()
    queueMicrotask(callback)
  }

  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(first?: Error | null | (() => void), second?: () => void): Promise<void> | void {
    const callback = typeof first === 'function' ? first : second
    if (callback === undefined) return Promise.resolve()
    queueMicrotask(callback)
  }
}
