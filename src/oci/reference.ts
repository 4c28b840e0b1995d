import { errors } from '../errors.js'
import { parseDigest, type Digest } from './digest.js'

// The OCI distribution spec's grammar for repository names and tags.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*'
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`)
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
/**
 * Distribution's limit, and the one Docker and containerd enforce on their side: longer
 * names never reach a real registry, so refusing them early costs no one anything.
 */
export const MAX_NAME_LENGTH = 255

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest }

export function validateName(name: string): string {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw errors.nameInvalid(name)
  }
  return name
}

/** A manifest reference is a digest when it has the digest shape (contains `:`), else a tag. */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) return { kind: 'digest', digest: parseDigest(reference) }
  if (!TAG.test(reference)) throw errors.tagInvalid(reference)
  return { kind: 'tag', tag: reference }
}

/**
 * Docker Hub keeps official images under `library/`, and clients may ask for `alpine`
 * meaning `library/alpine`. Only one-component names get the default namespace.
 */
export function normaliseName(name: string, defaultNamespace: string): string {
  if (defaultNamespace === '' || name.includes('/')) return name
  return `${defaultNamespace}/${name}`
}

/** The reference as it stands in a URL: the tag, or the digest. */
export function referenceText(reference: Reference): string {
  return reference.kind === 'tag' ? reference.tag : reference.digest.value
}
