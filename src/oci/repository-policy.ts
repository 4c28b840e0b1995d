import picomatch from 'picomatch'

/** Whether a repository (its name inside the upstream, namespace applied) may go through the mirror. */
export type RepositoryPolicy = (repository: string) => boolean

/**
 * Allow and deny lists of glob patterns over repository names: `*` stays within one path
 * component (`library/*`), `**` spans any number (`org/**`). A name is served when no
 * deny pattern matches it and, if allow patterns are given, one of them does.
 */
export function repositoryPolicy(allow: readonly string[] = [], deny: readonly string[] = []): RepositoryPolicy {
  const allowed = allow.length === 0 ? () => true : picomatch([...allow])
  const denied = deny.length === 0 ? () => false : picomatch([...deny])
  return (repository) => allowed(repository) && !denied(repository)
}
