import { BlockList, isIP } from 'node:net'

/**
 * How one upstream's requests reach the network:
 * - `direct`: never through a proxy;
 * - `fixed`: every request (registry, token realm, redirect targets) through `proxy`;
 * - `environment`: as HTTPS_PROXY, HTTP_PROXY and NO_PROXY say, by the target's scheme.
 * Proxy URLs are `http:` or `https:` URLs of the proxy itself, credentials included.
 */
export type ProxyPolicy =
  | { readonly kind: 'direct' }
  | { readonly kind: 'fixed'; readonly proxy: string }
  | {
      readonly kind: 'environment'
      readonly http: string | undefined
      readonly https: string | undefined
      /** NO_PROXY's entries, as written. */
      readonly noProxy: readonly string[]
    }

/** The proxy a request to a URL goes through, or undefined when it goes direct. */
export type ProxyRoute = (target: URL) => URL | undefined

const DIRECT: ProxyRoute = () => undefined

function defaultPort(url: URL): string {
  return url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'
}

/** A NO_PROXY entry: a host or domain (a leading `.` or `*.` ignored), an IP, a CIDR block; with `:port` or not. */
interface Exemption {
  host: string | undefined
  block: BlockList | undefined
  port: string | undefined
}

function splitPort(entry: string): { host: string; port: string | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry)
  if (bracketed !== null) return { host: bracketed[1]!, port: bracketed[2] }
  // An IPv6 address (or block) without brackets has more than one colon and no port.
  const colon = entry.lastIndexOf(':')
  if (colon < 0 || entry.indexOf(':') !== colon || !/^\d+$/.test(entry.slice(colon + 1))) {
    return { host: entry, port: undefined }
  }
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) }
}

function exemption(entry: string): Exemption | undefined {
  const { host, port } = splitPort(entry.trim().toLowerCase())
  const cidr = /^(.+)\/(\d{1,3})$/.exec(host)
  const family = cidr === null ? 0 : isIP(cidr[1]!)
  if (cidr !== null && family !== 0) {
    const bits = Number(cidr[2])
    if (bits > (family === 4 ? 32 : 128)) return undefined
    const block = new BlockList()
    block.addSubnet(cidr[1]!, bits, family === 4 ? 'ipv4' : 'ipv6')
    return { host: undefined, block, port }
  }
  const name = host.replace(/^\*?\./, '')
  return name === '' ? undefined : { host: name, block: undefined, port }
}

function exempts(rule: Exemption, host: string, port: string): boolean {
  if (rule.port !== undefined && rule.port !== port) return false
  if (rule.block !== undefined) {
    const family = isIP(host)
    return family !== 0 && rule.block.check(host, family === 4 ? 'ipv4' : 'ipv6')
  }
  return host === rule.host || (isIP(host) === 0 && host.endsWith(`.${rule.host!}`))
}

/**
 * Whether NO_PROXY sends a request to a URL direct, as curl reads it: entries split by
 * commas or spaces, case-insensitive; `*` alone matches everything; a domain matches
 * itself and its subdomains; an entry with a port matches that port only.
 */
export function noProxyMatcher(noProxy: readonly string[]): (target: URL) => boolean {
  const entries = noProxy.flatMap((e) => e.split(/[\s,]+/)).filter((e) => e !== '')
  if (entries.includes('*')) return () => true
  const rules = entries.map(exemption).filter((r) => r !== undefined)
  return (target) => {
    const host = target.hostname.toLowerCase().replace(/^\[|\]$/g, '')
    const port = defaultPort(target)
    return rules.some((rule) => exempts(rule, host, port))
  }
}

/** The route of one policy, with its URLs parsed once. */
export function proxyRoute(policy: ProxyPolicy): ProxyRoute {
  if (policy.kind === 'direct') return DIRECT
  if (policy.kind === 'fixed') {
    const proxy = new URL(policy.proxy)
    return () => proxy
  }
  const http = policy.http === undefined ? undefined : new URL(policy.http)
  const https = policy.https === undefined ? undefined : new URL(policy.https)
  if (http === undefined && https === undefined) return DIRECT
  const exempt = noProxyMatcher(policy.noProxy)
  return (target) => {
    const proxy = target.protocol === 'https:' ? https : http
    return proxy === undefined || exempt(target) ? undefined : proxy
  }
}

/** A proxy URL as logs may show it: the password, and the user name, never. */
export function redactedProxy(proxy: string): string {
  try {
    const url = new URL(proxy)
    if (url.username === '' && url.password === '') return url.origin
    return `${url.protocol}//***@${url.host}`
  } catch {
    return '(invalid URL)'
  }
}

/** A policy as logs may show it. */
export function describeProxy(policy: ProxyPolicy): string {
  if (policy.kind === 'direct') return 'none'
  if (policy.kind === 'fixed') return redactedProxy(policy.proxy)
  const parts = [
    policy.https === undefined ? undefined : `https via ${redactedProxy(policy.https)}`,
    policy.http === undefined ? undefined : `http via ${redactedProxy(policy.http)}`,
    policy.noProxy.length === 0 ? undefined : `not for ${policy.noProxy.join(',')}`,
  ].filter((p) => p !== undefined)
  return parts.length === 0 ? 'none' : `environment: ${parts.join('; ')}`
}
