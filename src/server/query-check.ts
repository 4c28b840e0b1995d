import type { FastifyInstance } from 'fastify'
import { errors } from '../errors.js'

/** Decodes as an HTML form does (`+` is a space); undefined when the escapes are not valid. */
function decodeQueryPart(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return undefined
  }
}

/**
 * The first parameter of a query string whose name or value does not decode, as it was
 * sent (its name, or the raw pair when the name itself is bad); undefined when all decode.
 */
export function undecodableParameter(query: string): { name: string; value: string } | undefined {
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=')
    const rawName = equals < 0 ? pair : pair.slice(0, equals)
    const rawValue = equals < 0 ? '' : pair.slice(equals + 1)
    const name = decodeQueryPart(rawName)
    if (name === undefined) return { name: pair, value: rawValue }
    if (decodeQueryPart(rawValue) === undefined) return { name, value: rawValue }
  }
  return undefined
}

/**
 * A query string with a bad percent-escape is the client's error, whatever the route:
 * refused with a 400 in the OCI format before any route reads it (the proxy to the
 * upstream would otherwise fail on it as an internal error). `n`, the page size, gets
 * the code registries give any invalid page size; `digest` (an upload's) an invalid
 * digest; anything else UNSUPPORTED, the spec's code for "an invalid set of parameters".
 */
export function installQueryCheck(app: FastifyInstance): void {
  // Callback style, as every onRequest hook here: an async one costs a promise and a
  // turn of the microtask queue per request. What it throws fastify answers as an error.
  app.addHook('onRequest', (request, _reply, done) => {
    const start = request.url.indexOf('?')
    const bad = start < 0 ? undefined : undecodableParameter(request.url.slice(start + 1))
    if (bad === undefined) return done()
    if (bad.name === 'n') throw errors.paginationInvalid(bad.value)
    if (bad.name === 'digest') throw errors.digestInvalid(bad.value)
    throw errors.queryInvalid(bad.name)
  })
}
