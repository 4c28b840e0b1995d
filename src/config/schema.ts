import { resolve } from 'node:path'
import bytes from 'bytes'
import { z } from 'zod'
import { optionOf } from './options.js'
import { proxySettingSchema, type ProxyPolicy } from './proxy.js'
import { parseRedisUrl } from './redis-url.js'
import {
  buildUpstreams,
  namespaceSchema,
  parseRegistryName,
  parseUpstreamUrl,
  seconds,
  TAG_TTL_MAX,
  upstreamListSchema,
  VERDICT_TTL_MAX,
  type UpstreamConfig,
} from './upstreams.js'

export type { UpstreamConfig } from './upstreams.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const LOG_FORMATS = ['pretty', 'json', 'auto'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

function parseListen(value: string, ctx: z.RefinementCtx): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value)
  const port = Number(match?.[3])
  if (match === null || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'must be host:port, e.g. 0.0.0.0:5000 or [::]:5000' })
    return z.NEVER
  }
  return { host: match[1] ?? (match[2] === '' ? '0.0.0.0' : match[2]!), port }
}

/** `50GiB`, `50GB` (both 1024-based, as the bytes library reads them), `500MB`, `1048576`. */
const SIZE = /^\s*\d+(?:\.\d+)?\s*(?:[kmgtp]i?b|b)?\s*$/i

function parseSize(value: string | number, ctx: z.RefinementCtx): number {
  const size =
    typeof value === 'number' ? value : SIZE.test(value) ? bytes.parse(value.replace(/([kmgtp])ib/i, '$1b')) : null
  if (size === null || !Number.isFinite(size) || size <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a size like 50GiB, 500MB or a number of bytes' })
    return z.NEVER
  }
  return Math.floor(size)
}

function checkRedisUrl(value: string, ctx: z.RefinementCtx): void {
  try {
    parseRedisUrl(value)
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message })
  }
}

/** `true`/`false` from a file or a flag, `true`, `false`, `1`, `0` from the environment. */
const onOff = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'must be true or false' })
  .transform((v) => v === true || v === 'true' || v === '1')

function parseHttpUrl(value: string, ctx: z.RefinementCtx): string {
  return parsePublicUrl(value, ctx)
}

function parsePublicUrl(value: string, ctx: z.RefinementCtx): string {
  try {
    const url = new URL(value)
    if (url.protocol === 'http:' || url.protocol === 'https:') return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
  } catch {
    // Reported below.
  }
  ctx.addIssue({ code: 'custom', message: 'must be the http or https URL clients reach the mirror at' })
  return z.NEVER
}

const fieldsSchema = z
  .object({
    listen: z.string().default(optionOf('listen').default).transform(parseListen),
    upstream: z.string().default(optionOf('upstream').default).transform(parseUpstreamUrl),
    cacheDir: z.string().min(1).default(optionOf('cacheDir').default),
    redisUrl: z.string().superRefine(checkRedisUrl).optional(),
    redisPrefix: z.string().min(1).default(optionOf('redisPrefix').default),
    redisTimeoutMs: z.coerce.number().int().min(10).max(60_000).default(optionOf('redisTimeoutMs').default),
    maxCacheSize: z.union([z.string(), z.number()]).transform(parseSize).optional(),
    memoryCacheSize: z
      .union([z.string(), z.number()])
      .default(optionOf('memoryCacheSize').default)
      .transform((v, ctx) => (v === 0 || v === '0' ? 0 : parseSize(v, ctx))),
    cacheHighWatermark: z.coerce.number().gt(0).max(1).default(optionOf('cacheHighWatermark').default),
    cacheLowWatermark: z.coerce.number().gt(0).max(1).default(optionOf('cacheLowWatermark').default),
    advertiseUrl: z.string().transform(parseHttpUrl).optional(),
    peerSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    tokenSecret: z.string().min(16, 'must be at least 16 characters').optional(),
    logLevel: z.enum(LOG_LEVELS).default(optionOf('logLevel').default),
    tagTtl: seconds(TAG_TTL_MAX).default(optionOf('tagTtl').default),
    defaultNamespace: namespaceSchema.optional(),
    upstreamConnectTimeout: seconds(600).min(1).default(optionOf('upstreamConnectTimeout').default),
    upstreamTimeout: seconds(3600).min(1).default(optionOf('upstreamTimeout').default),
    upstreamUsername: z.string().min(1).optional(),
    upstreamPassword: z.string().min(1).optional(),
    verdictTtl: seconds(VERDICT_TTL_MAX).default(optionOf('verdictTtl').default),
    authRealm: z.enum(['mirror', 'upstream']).default(optionOf('authRealm').default),
    publicUrl: z.string().transform(parsePublicUrl).optional(),
    metricsListen: z.string().transform(parseListen).optional(),
    metricsTopRepositories: z.coerce
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(optionOf('metricsTopRepositories').default),
    upstreamName: z.string().transform(parseRegistryName).optional(),
    upstreams: upstreamListSchema.optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    shutdownGrace: seconds(3600).default(optionOf('shutdownGrace').default),
    logFormat: z.enum(LOG_FORMATS).default(optionOf('logFormat').default),
    upstreamProxy: proxySettingSchema.optional(),
    offline: onOff.prefault(optionOf('offline').default),
  })
  .strict()
  .refine((s) => (s.upstreamUsername === undefined) === (s.upstreamPassword === undefined), {
    message: 'upstreamUsername and upstreamPassword go together',
    path: ['upstreamPassword'],
  })
  .refine((s) => s.cacheLowWatermark < s.cacheHighWatermark, {
    message: 'must be below cacheHighWatermark',
    path: ['cacheLowWatermark'],
  })
  .refine((s) => s.advertiseUrl === undefined || (s.redisUrl !== undefined && s.peerSecret !== undefined), {
    message: 'replicas need redisUrl and peerSecret too',
    path: ['advertiseUrl'],
  })
  .refine((s) => (s.tlsCert === undefined) === (s.tlsKey === undefined), {
    message: 'tlsCert and tlsKey go together',
    path: ['tlsKey'],
  })

type Settings = z.output<typeof fieldsSchema>

/** Everything but the upstreams, as the program uses it. */
function settingsOf(s: Settings) {
  return {
    listen: s.listen,
    cacheDir: resolve(s.cacheDir),
    redisUrl: s.redisUrl,
    logLevel: s.logLevel,
    upstreamConnectTimeoutSeconds: s.upstreamConnectTimeout,
    upstreamTimeoutSeconds: s.upstreamTimeout,
    authRealm: s.authRealm,
    publicUrl: s.publicUrl,
    metricsListen: s.metricsListen,
    metricsTopRepositories: s.metricsTopRepositories,
    redisPrefix: s.redisPrefix,
    redisTimeoutMs: s.redisTimeoutMs,
    cache: {
      maxBytes: s.maxCacheSize,
      memoryBytes: s.memoryCacheSize,
      highWatermark: s.cacheHighWatermark,
      lowWatermark: s.cacheLowWatermark,
    },
    replica:
      s.advertiseUrl === undefined || s.peerSecret === undefined
        ? undefined
        : { advertiseUrl: s.advertiseUrl, peerSecret: s.peerSecret },
    tls:
      s.tlsCert === undefined || s.tlsKey === undefined
        ? undefined
        : { certFile: resolve(s.tlsCert), keyFile: resolve(s.tlsKey) },
    /** Keys the sealed tokens (see TokenSeal); a random key per process when unset. */
    tokenSecret: s.tokenSecret,
    shutdownGraceSeconds: s.shutdownGrace,
    logFormat: s.logFormat,
    /** Every upstream is offline (each upstream's own `offline` says so too). */
    offline: s.offline,
  }
}

/** Every upstream, the default first; see buildUpstreams. */
function upstreamsOf(s: Settings, environment: ProxyPolicy, ctx: z.RefinementCtx): readonly UpstreamConfig[] {
  const credentials =
    s.upstreamUsername === undefined || s.upstreamPassword === undefined
      ? undefined
      : { username: s.upstreamUsername, password: s.upstreamPassword }
  const { upstream, upstreamName, tagTtl, verdictTtl, defaultNamespace, offline } = s
  const proxy = s.upstreamProxy ?? environment
  return buildUpstreams(
    { upstream, upstreamName, tagTtl, verdictTtl, defaultNamespace, credentials, proxy, offline },
    s.upstreams ?? [],
    ctx,
  )
}

/**
 * The settings as the program uses them. `environment` is the proxy policy of
 * HTTPS_PROXY, HTTP_PROXY and NO_PROXY: upstreams without `upstreamProxy` follow it.
 */
export function settingsSchema(environment: ProxyPolicy) {
  return fieldsSchema.transform((s, ctx) => {
    const upstreams = upstreamsOf(s, environment, ctx)
    return {
      ...settingsOf(s),
      /** The default upstream: requests that name no registry go to it. */
      upstream: upstreams[0]!,
      upstreams,
    }
  })
}

export type Config = Readonly<z.output<ReturnType<typeof settingsSchema>>>
