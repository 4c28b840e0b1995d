export interface HostPort {
  host: string
  port: number
}

/** What a MIRROR_REDIS_URL names. */
export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'sentinel'
      sentinels: HostPort[]
      master: string
      db: number
      username: string | undefined
      password: string | undefined
    }
  | { kind: 'cluster'; nodes: HostPort[]; username: string | undefined; password: string | undefined }

const FORMS =
  'redis://[:password@]host:port[/db], rediss://…, redis-sentinel://[:password@]host:port[,host:port…]/<master>[/db] ' +
  'or redis-cluster://[:password@]host:port[,host:port…]'

// WHATWG URLs take one host; Sentinel and Cluster URLs list several, so they are split by hand.
const MULTI_HOST = /^(redis-sentinel|redis-cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#@]+)(?:\/([^?#]*))?$/

function hostPort(entry: string, defaultPort: number): HostPort {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry)
  const port = match?.[2] === undefined ? defaultPort : Number(match[2])
  if (match === null || port < 1 || port > 65535) throw new Error(`"${entry}" is not host:port`)
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port }
}

const decoded = (value: string | undefined) =>
  value === undefined || value === '' ? undefined : decodeURIComponent(value)

function database(value: string | undefined): number {
  if (value === undefined || value === '') return 0
  if (!/^\d{1,5}$/.test(value)) throw new Error(`"${value}" is not a database number`)
  return Number(value)
}

/** Parses a Redis URL in any of the forms above; throws with a message that names them. */
export function parseRedisUrl(value: string): RedisTarget {
  try {
    const multi = MULTI_HOST.exec(value)
    if (multi !== null) {
      const [, scheme, user, password, hostList, path = ''] = multi
      const sentinel = scheme === 'redis-sentinel'
      const hosts = hostList!.split(',').map((entry) => hostPort(entry, sentinel ? 26379 : 6379))
      const credentials = { username: decoded(user), password: decoded(password) }
      if (!sentinel) {
        if (path !== '') throw new Error('a Cluster URL has no path: the database is always 0')
        return { kind: 'cluster', nodes: hosts, ...credentials }
      }
      const [master = '', db, ...rest] = path.split('/')
      if (master === '' || rest.length > 0) throw new Error('a Sentinel URL names its master: …/<master>[/db]')
      return {
        kind: 'sentinel',
        sentinels: hosts,
        master: decodeURIComponent(master),
        db: database(db),
        ...credentials,
      }
    }
    const url = new URL(value)
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('unknown scheme')
    if (url.hostname === '') throw new Error('no host')
    database(url.pathname.slice(1))
    return { kind: 'server', url: value }
  } catch (e) {
    throw new Error(`must be ${FORMS} (${(e as Error).message})`)
  }
}
