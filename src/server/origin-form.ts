/**
 * The request target as a path and query. HTTP/1.1 lets a client send the absolute form,
 * `GET http://host/v2/… HTTP/1.1` (clients configured to use the mirror as a proxy do),
 * and a server must accept it (RFC 9112, section 3.2.2); the routes, the logs and the
 * forwarding to the upstream all read the path, and the forwarding refuses anything else.
 * The host the target names is never contacted: the mirror answers as the origin, as
 * CNCF Distribution does. Dot segments are resolved on the way, as URL parsing does.
 */
export function originForm(req: { url?: string }): string {
  const url = req.url ?? '/'
  if (url.startsWith('/')) return url
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return url
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return url
  return `${parsed.pathname}${parsed.search}`
}
