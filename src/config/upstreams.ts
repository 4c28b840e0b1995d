import { z } from 'zod'
import { isRegistryName } from '../oci/registry-host.js'
import { proxySettingSchema, type ProxyPolicy } from './proxy.js'

/**
 * One registry the mirror serves. An open record: features that act per upstream add
 * their settings here.
 */
export interface UpstreamConfig {
  /** The registry host clients know it by: containerd's `?ns=`, a `<name>/` path prefix. */
  readonly name: string
  /** Base URL, without a trailing slash. */
  readonly url: string
  /** The URL's host[:port]. */
  readonly host: string
  readonly tagTtlSeconds: number
  readonly verdictTtlSeconds: number
  /** The mirror's own account on this registry, for repositories verified public. */
  readonly credentials?: { readonly username: string; readonly password: string }
  /** Namespace of one-component names (`library` on Docker Hub), or empty. */
  readonly defaultNamespace: string
  /** Never contacted: only what the cache holds is served. */
  readonly offline: boolean
  /** Repository name patterns (`library/*`, `org/**`) the mirror serves, when given. */
  readonly allow?: readonly string[]
  /** Repository name patterns the mirror refuses, whatever `allow` says. */
  readonly deny?: readonly string[]
  /** How its registry, token realm and redirect targets are reached (peers are always direct). */
  readonly proxy: ProxyPolicy
}

/** Hosts that are Docker Hub, where one-component names live under `library/`. */
const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io'])

/** The name Docker Hub goes by in image references and containerd's `?ns=`. */
const DOCKER_HUB_NAME = 'docker.io'

export const seconds = (max: number) => z.coerce.number().int().min(0).max(max)
export const TAG_TTL_MAX = 31_536_000
export const VERDICT_TTL_MAX = 86_400

export const namespaceSchema = z
  .string()
  .regex(/^([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)?$/, 'must be a repository name component or empty')

export function parseUpstreamUrl(value: string, ctx: z.RefinementCtx): { url: string; host: string } {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' })
    return z.NEVER
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    ctx.addIssue({ code: 'custom', message: 'must be an http or https URL without query or fragment' })
    return z.NEVER
  }
  return { url: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, host: url.host }
}

export function parseRegistryName(value: string, ctx: z.RefinementCtx): string {
  const name = value.toLowerCase()
  if (!isRegistryName(name)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a registry host as clients write it (with a `.` or a `:`, or `localhost`), like ghcr.io',
    })
    return z.NEVER
  }
  return name
}

/** The name an upstream goes by when none is given: Docker Hub's, or its URL's host[:port]. */
export function derivedName(host: string): string {
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB_NAME : host
}

/** `library` exists only on Docker Hub. */
export function derivedNamespace(host: string): string {
  return DOCKER_HUB_HOSTS.has(host) ? 'library' : ''
}

/** A glob over repository names: no spaces, no control characters. */
const pattern = z.string().regex(/^[^\s\p{Cc}]+$/u, 'must be a pattern like library/* or org/**')

const entrySchema = z
  .object({
    name: z.string().transform(parseRegistryName),
    url: z.string().transform(parseUpstreamUrl).optional(),
    tagTtl: seconds(TAG_TTL_MAX).optional(),
    verdictTtl: seconds(VERDICT_TTL_MAX).optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    defaultNamespace: namespaceSchema.optional(),
    offline: z.boolean().optional(),
    allow: z.array(pattern).optional(),
    deny: z.array(pattern).optional(),
    proxy: proxySettingSchema.optional(),
  })
  .strict()
  .refine((e) => (e.username === undefined) === (e.password === undefined), {
    message: 'username and password go together',
    path: ['password'],
  })

export type UpstreamEntry = z.output<typeof entrySchema>

/** `ghcr.io=https://ghcr.io,quay.io=https://quay.io`, as the environment and flags give it. */
function fromCompact(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'string') return value
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const equals = item.indexOf('=')
      if (equals <= 0) {
        ctx.addIssue({ code: 'custom', message: `${item}: must be name=url, like ghcr.io=https://ghcr.io` })
        return {}
      }
      return { name: item.slice(0, equals).trim(), url: item.slice(equals + 1).trim() }
    })
}

/** The raw name of an entry, as duplicates are compared. */
function rawName(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || !('name' in item)) return undefined
  return typeof item.name === 'string' ? item.name.toLowerCase() : undefined
}

/**
 * The `upstreams` setting: a list in the config file, the compact form elsewhere. Each
 * entry is checked on its own and the names against each other, so that every problem
 * shows at once, whichever entries are wrong.
 */
export const upstreamListSchema = z.preprocess(fromCompact, z.array(z.unknown())).transform((items, ctx) => {
  const entries: UpstreamEntry[] = []
  const seen = new Map<string, number>()
  items.forEach((item, i) => {
    const result = entrySchema.safeParse(item)
    if (result.success) entries.push(result.data)
    for (const issue of result.error?.issues ?? []) {
      const message = issue.code === 'unrecognized_keys' ? `unknown setting: ${issue.keys.join(', ')}` : issue.message
      ctx.addIssue({ code: 'custom', message, path: [i, ...issue.path] })
    }
    const name = rawName(item)
    const first = name === undefined ? undefined : seen.get(name)
    if (name !== undefined && first !== undefined) {
      ctx.addIssue({ code: 'custom', message: `duplicate name ${name} (also upstreams[${first}])`, path: [i, 'name'] })
    } else if (name !== undefined) seen.set(name, i)
  })
  return entries
})

/** What the top-level settings say of the default upstream and of every upstream. */
export interface UpstreamDefaults {
  upstream: { url: string; host: string }
  upstreamName: string | undefined
  tagTtl: number
  verdictTtl: number
  defaultNamespace: string | undefined
  credentials: { username: string; password: string } | undefined
  /** `upstreamProxy`, else the environment's. */
  proxy: ProxyPolicy
  /** The mirror is offline: every upstream is, whatever its entry says. */
  offline: boolean
}

function credentialsOf(entry: UpstreamEntry): UpstreamConfig['credentials'] {
  return entry.username === undefined || entry.password === undefined
    ? undefined
    : { username: entry.username, password: entry.password }
}

/** An entry's own settings over `base`'s. */
function applyEntry(base: UpstreamConfig, entry: UpstreamEntry): UpstreamConfig {
  return {
    ...base,
    tagTtlSeconds: entry.tagTtl ?? base.tagTtlSeconds,
    verdictTtlSeconds: entry.verdictTtl ?? base.verdictTtlSeconds,
    credentials: credentialsOf(entry) ?? base.credentials,
    defaultNamespace: entry.defaultNamespace ?? base.defaultNamespace,
    offline: entry.offline ?? base.offline,
    allow: entry.allow ?? base.allow,
    deny: entry.deny ?? base.deny,
    proxy: entry.proxy ?? base.proxy,
  }
}

/**
 * Every upstream, the default first. The default is `upstream` with the top-level
 * settings; an entry of the same name without a URL (or with the same one) sets its own
 * options (allow, deny, offline...), any other entry is one more upstream. TTLs given at
 * the top apply to every upstream that does not set its own; the mirror's account
 * (`upstreamUsername`) belongs to the default alone and is never sent to another registry.
 */
export function buildUpstreams(
  d: UpstreamDefaults,
  entries: readonly UpstreamEntry[],
  ctx: z.RefinementCtx,
): UpstreamConfig[] {
  let first: UpstreamConfig = {
    name: d.upstreamName ?? derivedName(d.upstream.host),
    url: d.upstream.url,
    host: d.upstream.host,
    tagTtlSeconds: d.tagTtl,
    verdictTtlSeconds: d.verdictTtl,
    credentials: d.credentials,
    defaultNamespace: d.defaultNamespace ?? derivedNamespace(d.upstream.host),
    offline: d.offline,
    proxy: d.proxy,
  }
  const others: UpstreamConfig[] = []
  entries.forEach((entry, i) => {
    if (entry.name === first.name) {
      if (entry.url === undefined || entry.url.url === first.url) first = applyEntry(first, entry)
      else {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'name'],
          message: `${entry.name} is the default upstream's name (upstream, upstreamName): give this one another name, or leave its url out to set the default's options`,
        })
      }
    } else if (entry.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'url'], message: 'required' })
    } else {
      const { url, host } = entry.url
      const base: UpstreamConfig = {
        name: entry.name,
        url,
        host,
        tagTtlSeconds: d.tagTtl,
        verdictTtlSeconds: d.verdictTtl,
        defaultNamespace: derivedNamespace(host),
        offline: d.offline,
        proxy: d.proxy,
      }
      others.push(applyEntry(base, entry))
    }
  })
  // Offline for the whole mirror is offline for each upstream, an entry's `offline: false` too.
  return [first, ...others].map((u) => (d.offline ? { ...u, offline: true } : u))
}

/**
 * The upstreams as image references name them, the default first: each by its name, the
 * name the index keeps its facts under and a registry prefix picks it by.
 */
export function upstreamsOf(config: { upstreams: readonly UpstreamConfig[] }): readonly UpstreamConfig[] {
  return config.upstreams
}
