/** One challenge of a `WWW-Authenticate` header: a scheme and its parameters. */
export interface Challenge {
  /** Lower-cased: `bearer`, `basic`. */
  scheme: string
  /** Parameter names lower-cased; values unquoted. */
  params: Record<string, string>
}

// RFC 9110 token characters.
const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/

class Scanner {
  i = 0
  constructor(readonly s: string) {}

  get done(): boolean {
    return this.i >= this.s.length
  }

  peek(): string {
    return this.s[this.i] ?? ''
  }

  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++
  }

  skipSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.i++
  }

  token(): string {
    const start = this.i
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.i++
    return this.s.slice(start, this.i)
  }

  /** A quoted-string, with backslash escapes; an unterminated one runs to the end. */
  quoted(): string {
    this.i++
    let out = ''
    while (!this.done && this.peek() !== '"') {
      if (this.peek() === '\\') this.i++
      out += this.peek()
      this.i++
    }
    this.i++
    return out
  }

  /** Skips a token68 credential (`Negotiate abc==`) if one is here. */
  token68(): boolean {
    const match = TOKEN68.exec(this.s.slice(this.i))
    if (match === null) return false
    this.i += match[0].length
    return true
  }

  /** A bare value: up to the next comma or space (tolerates the unquoted URLs some servers send). */
  bare(): string {
    const start = this.i
    while (!this.done && this.peek() !== ',' && this.peek() !== ' ') this.i++
    return this.s.slice(start, this.i)
  }
}

/** Reads `name = value` at the scanner, or restores it and returns undefined. */
function param(scan: Scanner): [string, string] | undefined {
  const start = scan.i
  const name = scan.token()
  scan.skipSpaces()
  if (name === '' || scan.peek() !== '=') {
    scan.i = start
    return undefined
  }
  scan.i++
  scan.skipSpaces()
  const value = scan.peek() === '"' ? scan.quoted() : scan.bare()
  return [name.toLowerCase(), value]
}

/**
 * Parses every challenge in a `WWW-Authenticate` header (or several headers). Quoted
 * values may hold commas, as Docker Hub's `scope="repository:x:pull,push"` does.
 */
export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return []
  if (Array.isArray(header)) return header.flatMap((h) => parseWwwAuthenticate(h))
  const scan = new Scanner(header)
  const challenges: Challenge[] = []
  while (true) {
    scan.skipSeparators()
    const scheme = scan.token()
    if (scheme === '') break
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} }
    challenges.push(challenge)
    scan.skipSpaces()
    if (scan.token68()) continue
    while (!scan.done) {
      const parsed = param(scan)
      if (parsed === undefined) break
      challenge.params[parsed[0]] = parsed[1]
      scan.skipSpaces()
      if (scan.peek() !== ',') break
      scan.i++
      scan.skipSpaces()
    }
  }
  return challenges
}

export interface BearerChallenge {
  realm: string
  service?: string
  scope?: string
  error?: string
}

/** The first Bearer challenge with a realm, if any. */
export function findBearer(header: string | string[] | undefined): BearerChallenge | undefined {
  const bearer = parseWwwAuthenticate(header).find((c) => c.scheme === 'bearer' && c.params.realm)
  if (bearer === undefined) return undefined
  const { realm = '', service, scope, error } = bearer.params
  return { realm, service, scope, error }
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`
}

/** Writes challenges back as a header value, parameters quoted. */
export function formatChallenges(challenges: Challenge[]): string {
  return challenges
    .map((c) => {
      const scheme = c.scheme === 'bearer' ? 'Bearer' : c.scheme === 'basic' ? 'Basic' : c.scheme
      const params = Object.entries(c.params).map(([name, value]) => `${name}=${quote(value)}`)
      return params.length === 0 ? scheme : `${scheme} ${params.join(',')}`
    })
    .join(', ')
}

/**
 * Points every Bearer challenge's realm at `realm`, keeping service, scope and error, so
 * a client fetches its token through the mirror. Other schemes pass as they are.
 */
export function rewriteBearerRealm(header: string | string[], realm: string): string {
  const challenges = parseWwwAuthenticate(header).map((c) =>
    c.scheme === 'bearer' ? { ...c, params: { ...c.params, realm } } : c,
  )
  return formatChallenges(challenges)
}
