import { OperatorError } from '../errors.js'
import { tryParseDigest } from './digest.js'
import { normaliseName, parseReference, validateName } from './reference.js'
import { routeOf } from './upstream-route.js'

/** An upstream as image references name it. */
export interface ImageUpstream {
  /**
   * The registry name users write in references (`docker.io`, `ghcr.io`,
   * `127.0.0.1:5000`), which requests are routed by and the index keeps its facts under.
   */
  readonly name: string
  /** Prefix of one-component names (`alpine` → `library/alpine`); empty for none. */
  readonly defaultNamespace: string
}

/** An image reference resolved to the upstream that serves it. */
export interface ImageRef {
  upstream: ImageUpstream
  /** The repository as the upstream and the cache name it: `library/alpine`. */
  repo: string
  /** Set unless the reference is by digest alone. */
  tag?: string
  /** Set for `name@sha256:…` and `name:tag@sha256:…`: it decides what is fetched. */
  digest?: string
}

/** Names Docker Hub goes by in references; they all mean `docker.io`. */
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

export class ImageRefError extends OperatorError {
  override readonly name = 'ImageRefError'
}

/** The name references use for a registry host: Docker Hub's aliases are `docker.io`. */
export function registryName(host: string): string {
  const lower = host.toLowerCase()
  return DOCKER_HUB_NAMES.has(lower) ? 'docker.io' : lower
}

/** Docker Hub's other names, as the first component of a reference, written `docker.io`. */
function canonicalHub(name: string): string {
  const slash = name.indexOf('/')
  return slash > 0 && registryName(name.slice(0, slash)) === 'docker.io' ? `docker.io${name.slice(slash)}` : name
}

function splitReference(text: string): { name: string; tag?: string; digest?: string } {
  const at = text.indexOf('@')
  const digest = at < 0 ? undefined : text.slice(at + 1)
  const rest = at < 0 ? text : text.slice(0, at)
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest }
  return { name: rest, digest }
}

/**
 * What users type, resolved: `alpine:3.19`, `library/alpine`, `docker.io/library/alpine:3.19`,
 * `index.docker.io/…`, `…@sha256:…`, `name:tag@sha256:…`, `localhost:5000/x`. The registry
 * host picks the upstream; a name without one belongs to the first (the default). No tag
 * and no digest means `latest`.
 */
export function resolveImage(text: string, upstreams: readonly ImageUpstream[]): ImageRef {
  const bad = (why: string) => new ImageRefError(`invalid image reference "${text.slice(0, 300)}": ${why}`)
  const { name, tag, digest } = splitReference(text.trim())
  const served = upstreams.map((u) => u.name)
  // The routing of requests, so that a reference names the image a pull of it gets.
  const route = routeOf({
    name: canonicalHub(name),
    namespaces: [],
    upstreams: new Set(served),
    defaultUpstream: served[0] ?? '',
  })
  const upstream = route.kind === 'upstream' ? upstreams.find((u) => u.name === route.upstream) : undefined
  if (route.kind !== 'upstream' || upstream === undefined) {
    const registry = route.kind === 'unknown' ? route.registry : '(default)'
    throw new ImageRefError(`registry ${registry} is not served by this mirror (it serves ${served.join(', ')})`)
  }
  const path = route.name ?? ''
  let repo: string
  try {
    repo = normaliseName(validateName(path), upstream.defaultNamespace)
    validateName(repo)
  } catch {
    throw bad('the repository name must be lowercase letters, digits and separators (. _ - /)')
  }
  if (tag !== undefined) {
    if (tag.includes(':') || tryParse(() => parseReference(tag)) === undefined) throw bad(`"${tag}" is not a tag`)
  }
  if (digest !== undefined && tryParseDigest(digest) === undefined) throw bad(`"${digest}" is not a digest`)
  return {
    upstream,
    repo,
    ...(tag === undefined && digest === undefined ? { tag: 'latest' } : tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  }
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse()
  } catch {
    return undefined
  }
}

/** The full name: `docker.io/library/alpine:3.19`, `…@sha256:…`, `…:3.19@sha256:…`. */
export function imageName(ref: ImageRef): string {
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`
  const digest = ref.digest === undefined ? '' : `@${ref.digest}`
  return `${ref.upstream.name}/${ref.repo}${tag}${digest}`
}

/** The repository's full name, without tag or digest: `docker.io/library/alpine`. */
export function repositoryName(ref: ImageRef): string {
  return `${ref.upstream.name}/${ref.repo}`
}
