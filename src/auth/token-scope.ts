import type { TokenRequest } from './token-relay.js'

/**
 * The scopes of a client's token request (`repository:library/alpine:pull`), in its query
 * string (Docker) or its OAuth2 form (containerd's POST): which repositories it is for,
 * and the same request with those names rewritten for the registry that will answer it.
 */

/** `type:name:actions`; the name may hold a port (`localhost:5000/app`), so it is what lies between the first and last colon. */
interface Scope {
  type: string
  name: string
  actions: string
}

function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':')
  const last = text.lastIndexOf(':')
  if (first <= 0 || last <= first) return undefined
  return { type: text.slice(0, first), name: text.slice(first + 1, last), actions: text.slice(last + 1) }
}

/** `repository` and `repository(plugin)` scopes name a repository; `registry:catalog:*` does not. */
function isRepositoryScope(scope: Scope): boolean {
  return scope.type === 'repository' || scope.type.startsWith('repository(')
}

/** A form value as `application/x-www-form-urlencoded` reads it; a bad escape stays as it is. */
function decodeValue(value: string): string {
  const spaced = value.replaceAll('+', ' ')
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced
  }
}

/** Each `key=value` of a form or query, with the raw text kept for what is not rewritten. */
function fields(form: string): Array<{ raw: string; key: string; value: string }> {
  return form
    .split('&')
    .filter((part) => part !== '')
    .map((raw) => {
      const equals = raw.indexOf('=')
      const key = decodeValue(equals < 0 ? raw : raw.slice(0, equals))
      return { raw, key, value: equals < 0 ? '' : decodeValue(raw.slice(equals + 1)) }
    })
}

/** One `scope` value may hold several scopes, space-separated (OAuth2's form). */
function scopesOf(value: string): string[] {
  return value.split(' ').filter((s) => s !== '')
}

/** The repository names the scopes of a query or form are about. */
export function scopeRepositories(form: string): string[] {
  return fields(form)
    .filter((f) => f.key === 'scope')
    .flatMap((f) => scopesOf(f.value))
    .flatMap((text) => {
      const scope = parseScope(text)
      return scope !== undefined && isRepositoryScope(scope) ? [scope.name] : []
    })
}

/**
 * The query or form with each repository scope's name passed through `rename`, and the
 * `service` it names replaced by `service` when one is given. Everything else is kept as
 * the client wrote it.
 */
export function rewriteTokenForm(form: string, rename: (name: string) => string, service?: string): string {
  return fields(form)
    .map((f) => {
      if (f.key === 'service' && service !== undefined) return `service=${encodeURIComponent(service)}`
      if (f.key !== 'scope') return f.raw
      const scopes = scopesOf(f.value).map((text) => {
        const scope = parseScope(text)
        if (scope === undefined || !isRepositoryScope(scope)) return text
        return `${scope.type}:${rename(scope.name)}:${scope.actions}`
      })
      return `scope=${encodeURIComponent(scopes.join(' '))}`
    })
    .join('&')
}

const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i

/** The OAuth2 form of a POSTed token request, as text; undefined for a GET or another body. */
export function tokenForm(request: TokenRequest): string | undefined {
  const form = request.method === 'POST' && request.body !== undefined && FORM.test(request.contentType ?? '')
  return form ? request.body!.toString('utf8') : undefined
}

/** The repositories a token request is for, from its query and its form. */
export function requestRepositories(request: TokenRequest): string[] {
  return [...scopeRepositories(request.query), ...scopeRepositories(tokenForm(request) ?? '')]
}

/** The request with its scopes renamed and its service replaced, in the query and the form alike. */
export function rewriteTokenRequest(
  request: TokenRequest,
  rename: (name: string) => string,
  service: string | undefined,
): TokenRequest {
  const form = tokenForm(request)
  return {
    ...request,
    query: rewriteTokenForm(request.query, rename, service),
    body: form === undefined ? request.body : Buffer.from(rewriteTokenForm(form, rename, service)),
  }
}
