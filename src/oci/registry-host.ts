/**
 * Registry hosts as clients name them: containerd's `?ns=` parameter, and the first
 * component of a path like `/v2/ghcr.io/org/app/manifests/1`.
 */

/** A DNS name or an IPv4 address, lowercase, with an optional port. */
const HOST = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/

/**
 * Docker's rule for the first component of an image name: it is a registry when it
 * contains a `.` or a `:`, or is `localhost`; otherwise it belongs to the repository name.
 */
export function looksLikeRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost'
}

/** A name an upstream may be given: a host as above that Docker's rule recognises as one. */
export function isRegistryName(name: string): boolean {
  return HOST.test(name) && looksLikeRegistryHost(name)
}

/**
 * The `ns` values of a raw request target. URLSearchParams never throws: a bad escape
 * stays as it is, and then names no registry the mirror serves.
 */
export function namespacesOf(url: string): string[] {
  const query = url.indexOf('?')
  if (query < 0) return []
  return new URLSearchParams(url.slice(query + 1))
    .getAll('ns')
    .map((ns) => ns.toLowerCase())
    .filter((ns) => ns !== '')
}
