import { isRegistryName } from './registry-host.js'

/**
 * Which upstream a request is for, and the repository name inside it (before the default
 * namespace is applied): the upstream a request names must be the one that answers it,
 * or the mirror would serve one registry's image under another's name.
 */
export type UpstreamRoute =
  | {
      kind: 'upstream'
      upstream: string
      /** The repository name inside that upstream; undefined for paths without one. */
      name: string | undefined
      /** The registry prefix the path carried, as written (`ghcr.io` of `ghcr.io/org/app`). */
      prefix: string | undefined
    }
  /** A registry the mirror does not serve. */
  | { kind: 'unknown'; registry: string }
  /** The request names two registries (two `ns` values, or `ns` and a path prefix). */
  | { kind: 'conflict'; registries: string[] }

export interface RouteInput {
  /** The repository name as the path has it, or undefined for paths without one (the ping, the catalog). */
  name: string | undefined
  /** The request's `ns` values, in lower case (see namespacesOf). */
  namespaces: readonly string[]
  upstreams: ReadonlySet<string>
  defaultUpstream: string
}

/**
 * A name whose first component is a registry host, split there. A component that is not
 * a host at all (`..`) stays part of the name, to be refused as an invalid one.
 */
function splitRegistry(name: string): { prefix: string; host: string; rest: string } | undefined {
  const slash = name.indexOf('/')
  if (slash <= 0) return undefined
  const prefix = name.slice(0, slash)
  const host = prefix.toLowerCase()
  return isRegistryName(host) ? { prefix, host, rest: name.slice(slash + 1) } : undefined
}

/**
 * The routing rules, in order:
 * 1. containerd's `?ns=<registry>`; a path that also starts with that registry loses the
 *    prefix, one that starts with another served registry is a conflict, and any other
 *    first component is part of the name (a Harbor project may contain dots);
 * 2. a first path component that is a registry host (`ghcr.io/org/app`), stripped;
 * 3. otherwise the default upstream.
 * A registry no upstream has is unknown, even when a default exists.
 */
export function routeOf(input: RouteInput): UpstreamRoute {
  const { name, upstreams } = input
  const unserved = input.namespaces.find((ns) => !upstreams.has(ns))
  if (unserved !== undefined) return { kind: 'unknown', registry: unserved }
  const named = [...new Set(input.namespaces)]
  if (named.length > 1) return { kind: 'conflict', registries: named }
  const split = name === undefined ? undefined : splitRegistry(name)
  const ns = named[0]
  if (ns !== undefined) {
    if (split?.host === ns) return { kind: 'upstream', upstream: ns, name: split.rest, prefix: split.prefix }
    if (split !== undefined && upstreams.has(split.host)) return { kind: 'conflict', registries: [ns, split.host] }
    return { kind: 'upstream', upstream: ns, name, prefix: undefined }
  }
  if (split !== undefined) {
    return upstreams.has(split.host)
      ? { kind: 'upstream', upstream: split.host, name: split.rest, prefix: split.prefix }
      : { kind: 'unknown', registry: split.host }
  }
  return { kind: 'upstream', upstream: input.defaultUpstream, name, prefix: undefined }
}
