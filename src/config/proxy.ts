import { z } from 'zod'
import type { ProxyPolicy } from '../http/proxy-route.js'

export type { ProxyPolicy } from '../http/proxy-route.js'

/** The value of `upstreamProxy` (and an upstream's `proxy`) that sends requests direct, whatever the environment says. */
export const NO_PROXY_VALUE = 'none'

const PROXY_URL_MESSAGE = 'must be the http URL of the proxy, like http://proxy.example:3128, or none'

/**
 * A proxy's URL, or undefined when it is not one. Like curl, a value without a scheme is
 * an http proxy (`proxy.example:3128`); its path, query and fragment must be empty, as a
 * proxy has only an address. The message never repeats the value, which may hold a password.
 */
export function proxyUrlOf(value: string): string | undefined {
  const written = value.trim()
  let url: URL
  try {
    url = new URL(written.includes('://') ? written : `http://${written}`)
  } catch {
    return undefined
  }
  const bare = url.pathname === '/' && url.search === '' && url.hash === ''
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || !bare) return undefined
  return url.href
}

function parseProxySetting(value: string, ctx: z.RefinementCtx): ProxyPolicy {
  if (value.trim().toLowerCase() === NO_PROXY_VALUE) return { kind: 'direct' }
  const proxy = proxyUrlOf(value)
  if (proxy !== undefined) return { kind: 'fixed', proxy }
  ctx.addIssue({ code: 'custom', message: PROXY_URL_MESSAGE })
  return z.NEVER
}

/** `upstreamProxy`, and `proxy` in an upstream's entry. */
export const proxySettingSchema = z.string().transform(parseProxySetting)

/** The lower-case form first, as curl and undici read them; empty is unset. */
function variable(env: Record<string, string | undefined>, name: string): { name: string; value: string } | undefined {
  for (const key of [name.toLowerCase(), name]) {
    const value = env[key]
    if (value !== undefined && value.trim() !== '') return { name: key, value }
  }
  return undefined
}

/**
 * The proxy policy HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or their lower-case forms) set,
 * for upstreams that have no `upstreamProxy` of their own. Malformed values are problems
 * of the configuration, reported with the others.
 */
export function environmentProxy(env: Record<string, string | undefined>): { policy: ProxyPolicy; problems: string[] } {
  const problems: string[] = []
  const proxy = (name: string): string | undefined => {
    const found = variable(env, name)
    if (found === undefined) return undefined
    const url = proxyUrlOf(found.value)
    if (url === undefined) {
      problems.push(`${found.name}: must be the http URL of a proxy, like http://proxy.example:3128`)
    }
    return url
  }
  const https = proxy('HTTPS_PROXY')
  const http = proxy('HTTP_PROXY')
  const noProxy = (variable(env, 'NO_PROXY')?.value ?? '').split(/[\s,]+/).filter((entry) => entry !== '')
  const policy: ProxyPolicy =
    https === undefined && http === undefined ? { kind: 'direct' } : { kind: 'environment', http, https, noProxy }
  return { policy, problems }
}
