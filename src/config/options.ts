/**
 * Every setting, once: its config-file key, environment variable, flag, description and
 * default. The schema takes its defaults from here; the loader, the command line's help
 * and the README's configuration table (`npm run docs`) follow this list.
 */
export interface OptionSpec {
  /** Key in the config file and in the raw settings object. */
  readonly key: string
  readonly env: string
  readonly flag: string
  /** Markdown: `code` in backticks. */
  readonly description: string
  /** The value the setting has when none is given. */
  readonly default?: string | number
  /** Said instead of a value where there is none: the default is computed, or the setting is off. */
  readonly defaultText?: string
}

export const OPTIONS = [
  {
    key: 'listen',
    env: 'MIRROR_LISTEN',
    flag: '--listen <host:port>',
    description: 'address to serve on (`host:port`, `[::]:port`)',
    default: '0.0.0.0:5000',
  },
  {
    key: 'upstream',
    env: 'MIRROR_UPSTREAM',
    flag: '--upstream <url>',
    description: 'upstream registry base URL (http or https)',
    default: 'https://registry-1.docker.io',
  },
  {
    key: 'cacheDir',
    env: 'MIRROR_CACHE_DIR',
    flag: '--cache-dir <dir>',
    description: 'root of the on-disk cache',
    default: './data',
  },
  {
    key: 'redisUrl',
    env: 'MIRROR_REDIS_URL',
    flag: '--redis-url <url>',
    description:
      'Redis for the index (`redis://`, `rediss://`, `redis-sentinel://`, `redis-cluster://`); unset means the embedded index',
  },
  {
    key: 'redisPrefix',
    env: 'MIRROR_REDIS_PREFIX',
    flag: '--redis-prefix <prefix>',
    description: 'prefix of every Redis key, so several mirrors can share one Redis',
    default: 'registry-mirror:',
  },
  {
    key: 'redisTimeoutMs',
    env: 'MIRROR_REDIS_TIMEOUT_MS',
    flag: '--redis-timeout-ms <ms>',
    description: 'longest a request waits on Redis; past it the mirror serves without the index',
    default: 500,
  },
  {
    key: 'maxCacheSize',
    env: 'MIRROR_MAX_CACHE_SIZE',
    flag: '--max-cache-size <size>',
    description: 'bound on the cache, like `50GiB`; least recently used blobs are evicted past it',
    defaultText: 'unbounded',
  },
  {
    key: 'memoryCacheSize',
    env: 'MIRROR_MEMORY_CACHE_SIZE',
    flag: '--memory-cache-size <size>',
    description:
      'memory for the most recently read small blobs (each at most an eighth of it), sent without reading the disk; `0` turns it off',
    default: '64MiB',
  },
  {
    key: 'cacheHighWatermark',
    env: 'MIRROR_CACHE_HIGH_WATERMARK',
    flag: '--cache-high-watermark <fraction>',
    description: 'eviction starts when the cache exceeds this fraction of the bound',
    default: 0.9,
  },
  {
    key: 'cacheLowWatermark',
    env: 'MIRROR_CACHE_LOW_WATERMARK',
    flag: '--cache-low-watermark <fraction>',
    description: 'and stops when it is back under this fraction',
    default: 0.8,
  },
  {
    key: 'advertiseUrl',
    env: 'MIRROR_ADVERTISE_URL',
    flag: '--advertise-url <url>',
    description:
      "this replica's address for its peers, like `http://10.0.0.5:5000`; required when replicas share a Redis",
  },
  {
    key: 'peerSecret',
    env: 'MIRROR_PEER_SECRET',
    flag: '--peer-secret <secret>',
    description: 'shared secret replicas present on their internal route',
  },
  {
    key: 'tokenSecret',
    env: 'MIRROR_TOKEN_SECRET',
    flag: '--token-secret <secret>',
    description:
      "key of the tokens that carry a Basic-auth upstream's client credentials; replicas behind one address need the same (random per process when unset)",
  },
  {
    key: 'logLevel',
    env: 'MIRROR_LOG_LEVEL',
    flag: '--log-level <level>',
    description: 'pino level: fatal, error, warn, info, debug, trace, silent',
    default: 'info',
  },
  {
    key: 'tagTtl',
    env: 'MIRROR_TAG_TTL',
    flag: '--tag-ttl <seconds>',
    description: 'seconds a cached tag is served before it is re-checked upstream with a HEAD',
    default: 300,
  },
  {
    key: 'defaultNamespace',
    env: 'MIRROR_DEFAULT_NAMESPACE',
    flag: '--default-namespace <ns>',
    description: 'namespace for one-component names (`alpine` → `library/alpine`); empty for none',
    defaultText: '`library` for Docker Hub, else empty',
  },
  {
    key: 'upstreamConnectTimeout',
    env: 'MIRROR_UPSTREAM_CONNECT_TIMEOUT',
    flag: '--upstream-connect-timeout <seconds>',
    description: 'seconds allowed to connect to the upstream',
    default: 10,
  },
  {
    key: 'upstreamTimeout',
    env: 'MIRROR_UPSTREAM_TIMEOUT',
    flag: '--upstream-timeout <seconds>',
    description: 'seconds the upstream may stay silent, waiting for headers or between body bytes',
    default: 60,
  },
  {
    key: 'upstreamUsername',
    env: 'MIRROR_UPSTREAM_USERNAME',
    flag: '--upstream-username <user>',
    description: "the mirror's own upstream account (rate limits); used only for repositories verified public",
  },
  {
    key: 'upstreamPassword',
    env: 'MIRROR_UPSTREAM_PASSWORD',
    flag: '--upstream-password <password>',
    description: 'password or access token of that account',
  },
  {
    key: 'verdictTtl',
    env: 'MIRROR_VERDICT_TTL',
    flag: '--verdict-ttl <seconds>',
    description: 'seconds a public/private verdict on a repository is trusted before it is checked again',
    default: 600,
  },
  {
    key: 'authRealm',
    env: 'MIRROR_AUTH_REALM',
    flag: '--auth-realm <mirror|upstream>',
    description:
      "realm in the challenges clients get: `mirror` (the mirror's `/token`) or `upstream` (the upstream's own)",
    default: 'mirror',
  },
  {
    key: 'publicUrl',
    env: 'MIRROR_PUBLIC_URL',
    flag: '--public-url <url>',
    description: "the mirror's URL as clients reach it, for the token realm; by default from each request's Host",
  },
  {
    key: 'metricsListen',
    env: 'MIRROR_METRICS_LISTEN',
    flag: '--metrics-listen <host:port>',
    description: 'a second address serving only /metrics, /healthz and /readyz (they are on the main port too)',
  },
  {
    key: 'metricsTopRepositories',
    env: 'MIRROR_METRICS_TOP_REPOSITORIES',
    flag: '--metrics-top-repositories <n>',
    description:
      'export pulls of the n most pulled public repositories, with the repository as a label (`registry_mirror_repository_pulls_total`); 0 exports none',
    default: 0,
  },
  {
    key: 'upstreamName',
    env: 'MIRROR_UPSTREAM_NAME',
    flag: '--upstream-name <host>',
    description:
      "the registry host clients know the upstream by (containerd's `?ns=`, a `<host>/` path prefix); requests naming another registry are refused",
    defaultText: "`docker.io` for Docker Hub, else the URL's host[:port]",
  },
  {
    key: 'upstreams',
    env: 'MIRROR_UPSTREAMS',
    flag: '--upstreams <name=url,...>',
    description:
      'more registries to serve, like `ghcr.io=https://ghcr.io,quay.io=https://quay.io`; in the config file a list of `{ name, url, tagTtl, verdictTtl, username, password, defaultNamespace, offline, allow, deny, proxy }` (see docs/upstreams.md)',
    defaultText: 'none',
  },
  {
    key: 'tlsCert',
    env: 'MIRROR_TLS_CERT',
    flag: '--tls-cert <file>',
    description:
      'PEM certificate (the chain after it) to serve HTTPS on the listen address; with `tlsKey`; both files are read again on SIGHUP',
  },
  {
    key: 'tlsKey',
    env: 'MIRROR_TLS_KEY',
    flag: '--tls-key <file>',
    description: 'PEM private key of that certificate',
  },
  {
    key: 'shutdownGrace',
    env: 'MIRROR_SHUTDOWN_GRACE',
    flag: '--shutdown-grace <seconds>',
    description: 'seconds transfers in flight get to finish after SIGTERM or SIGINT; then they are cut',
    default: 10,
  },
  {
    key: 'logFormat',
    env: 'MIRROR_LOG_FORMAT',
    flag: '--log-format <pretty|json|auto>',
    description: 'log lines for people (`pretty`) or JSON; `auto` is pretty when stdout is a terminal',
    default: 'auto',
  },
  {
    key: 'upstreamProxy',
    env: 'MIRROR_UPSTREAM_PROXY',
    flag: '--upstream-proxy <url|none>',
    description:
      'HTTP proxy every upstream and token request goes through (CONNECT for https upstreams), like `http://user:pass@proxy:3128`; `none` for none; each of `upstreams` may set its own `proxy` (see docs/upstream-proxy.md)',
    defaultText: '`HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` from the environment; none without them',
  },
  {
    key: 'offline',
    env: 'MIRROR_OFFLINE',
    flag: '--offline',
    description:
      'never contact any upstream: serve what the cache holds, tags by their last known digest, and answer the rest 404 at once (see docs/offline.md)',
    default: 'false',
  },
] as const satisfies readonly OptionSpec[]

type Option = (typeof OPTIONS)[number]

export type OptionKey = Option['key']

/** Settings as they arrive from a file, the environment or flags, before validation. */
export type RawSettings = Partial<Record<OptionKey, unknown>>

/** One setting's entry, typed as the list states it: `optionOf('listen').default` is `'0.0.0.0:5000'`. */
export function optionOf<K extends OptionKey>(key: K): Extract<Option, { key: K }> {
  const option = OPTIONS.find((o): o is Extract<Option, { key: K }> => o.key === key)
  if (option === undefined) throw new Error(`no option ${key}`)
  return option
}

/** The default as the help and the README say it: the value, or what stands for it. */
export function defaultShown(option: OptionSpec, code: (value: string) => string = (value) => value): string {
  if (option.default !== undefined) return code(String(option.default))
  return option.defaultText ?? 'unset'
}

/** A setting's line in `--help`: what it does, its variable, its default. */
export function helpText(option: OptionSpec): string {
  return `${option.description} (env ${option.env}; default ${defaultShown(option)})`
}
