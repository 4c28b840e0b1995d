import { execFile } from 'node:child_process'
import { createPrivateKey, createSign, randomUUID, X509Certificate, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { makeTempDir } from './temp-dir.js'

const run = promisify(execFile)

export const TOKEN_SERVICE = 'test-registry'
export const TOKEN_ISSUER = 'test-token-issuer'
const TOKEN_LIFETIME_S = 300

/** What a caller asked for and who they are; returns the actions granted (maybe none). */
export type GrantPolicy = (user: string | undefined, repository: string, actions: string[]) => string[]

/**
 * Docker Hub's rule of thumb: official (`library/`) and `public/` repositories are
 * pullable by anyone; a known user may do anything; `private/<user>/…` is only for its owner.
 */
export const hubLikePolicy: GrantPolicy = (user, repository, actions) => {
  if (repository.startsWith('private/')) {
    const owner = repository.split('/')[1]
    return user !== undefined && (owner === user || owner === undefined) ? actions : []
  }
  if (user !== undefined) return actions
  if (repository.startsWith('library/') || repository.startsWith('public/')) {
    return actions.filter((a) => a === 'pull')
  }
  return []
}

export interface TokenRequestLog {
  /** GET (Docker's flow) or POST (an OAuth2 form, containerd's). */
  method: string
  user: string | undefined
  scopes: string[]
  status: number
}

export interface TokenServer {
  /** From now on answer every token request with this status (undefined: serve again). */
  failWith(status: number | undefined): void
  readonly url: string
  readonly realm: string
  /** PEM bundle the registry trusts (`rootcertbundle`). */
  readonly certPath: string
  /** Every token request answered, injected failures included. */
  readonly requests: TokenRequestLog[]
  close(): Promise<void>
}

interface SigningKey {
  key: KeyObject
  certDer: string
  certPath: string
}

let signingKey: Promise<SigningKey> | undefined

/** One RSA key and self-signed certificate per test process: openssl is slow-ish. */
async function loadSigningKey(): Promise<SigningKey> {
  signingKey ??= (async () => {
    const dir = await makeTempDir('token-key')
    process.once('exit', () => rmSync(dir.path, { recursive: true, force: true }))
    const keyPath = join(dir.path, 'key.pem')
    const certPath = join(dir.path, 'cert.pem')
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=registry-mirror test token issuer',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ])
    const key = createPrivateKey(await readFile(keyPath))
    const cert = new X509Certificate(await readFile(certPath))
    return { key, certDer: cert.raw.toString('base64'), certPath }
  })()
  return signingKey
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url')
}

/** An RS256 JWT in the shape CNCF Distribution's token access controller verifies. */
function signToken(key: SigningKey, subject: string, access: unknown[], lifetime: number): string {
  const now = Math.floor(Date.now() / 1000)
  const header = { typ: 'JWT', alg: 'RS256', x5c: [key.certDer] }
  const claims = {
    iss: TOKEN_ISSUER,
    sub: subject,
    aud: TOKEN_SERVICE,
    exp: now + lifetime,
    nbf: now - 10,
    iat: now,
    jti: randomUUID(),
    access,
  }
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`
  const signature = createSign('RSA-SHA256').update(signingInput).sign(key.key)
  return `${signingInput}.${base64url(signature)}`
}

function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (header === undefined || !header.startsWith('Basic ')) return null
  const decoded = Buffer.from(header.slice(6), 'base64').toString()
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | null {
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first < 0 || last <= first) return null
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  }
}

export interface TokenServerOptions {
  users?: Record<string, string>
  policy?: GrantPolicy
  /**
   * Refuse (401) an anonymous request that would be granted nothing, as some registries'
   * auth services do, instead of Docker Hub's token with an empty access list.
   */
  refuseEmptyAnonymous?: boolean
  /** Token lifetime (expires_in); short ones make a client come back for a new token. */
  lifetimeSeconds?: number
}

/** A small imitation of Docker Hub's auth service (auth.docker.io/token). */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const key = await loadSigningKey()
  const users = options.users ?? { alice: 'alice-secret', bob: 'bob-secret' }
  const policy = options.policy ?? hubLikePolicy
  const requests: TokenRequestLog[] = []
  const lifetime = options.lifetimeSeconds ?? TOKEN_LIFETIME_S
  let failure: number | undefined

  /**
   * GET with Basic credentials and scopes in the query (Docker's flow), or POST of an
   * OAuth2 form with grant_type=password and the credentials and scope in the body
   * (containerd's flow, which Docker Hub supports too).
   */
  const issue = (
    req: IncomingMessage,
    res: ServerResponse,
    credentials: { user: string; password: string } | null,
    scopes: string[],
    oauth: boolean,
  ): void => {
    const reply = (status: number, body: unknown): void => {
      requests.push({ method: req.method ?? 'GET', user: credentials?.user, scopes, status })
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (credentials !== null && users[credentials.user] !== credentials.password) {
      return reply(401, { details: 'incorrect username or password' })
    }
    const access = scopes.flatMap((scope) => {
      const parsed = parseScope(scope)
      if (parsed === null || parsed.type !== 'repository') return []
      const granted = policy(credentials?.user, parsed.name, parsed.actions)
      return [{ type: parsed.type, name: parsed.name, actions: granted }]
    })
    if (
      options.refuseEmptyAnonymous === true &&
      credentials === null &&
      access.length > 0 &&
      access.every((a) => a.actions.length === 0)
    ) {
      return reply(401, { details: 'access to the resource is denied' })
    }
    const token = signToken(key, credentials?.user ?? '', access, lifetime)
    const common = { access_token: token, expires_in: lifetime, issued_at: new Date().toISOString() }
    reply(200, oauth ? { ...common, scope: scopes.join(' ') } : { token, ...common })
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (failure !== undefined) {
      requests.push({ method: req.method ?? 'GET', user: undefined, scopes: [], status: failure })
      res.writeHead(failure, { 'content-type': 'text/plain' })
      res.end('injected failure')
      return
    }
    const url = new URL(req.url ?? '/', 'http://token')
    if (url.pathname !== '/token') {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ details: 'not found' }))
      return
    }
    const scopesOf = (params: URLSearchParams) =>
      params
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean)
    if (req.method !== 'POST') {
      issue(req, res, parseBasic(req.headers.authorization), scopesOf(url.searchParams), false)
      return
    }
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      const form = new URLSearchParams(body)
      if (form.get('grant_type') !== 'password') {
        res.writeHead(400, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'unsupported_grant_type' }))
        return
      }
      const user = form.get('username')
      const credentials = user === null ? null : { user, password: form.get('password') ?? '' }
      issue(req, res, credentials, scopesOf(form), true)
    })
  }

  const server = createServer(handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    realm: `${url}/token`,
    certPath: key.certPath,
    requests,
    failWith: (status) => {
      failure = status
    },
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
