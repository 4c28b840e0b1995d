import type { Logger } from '../logger.js'
import type { UpstreamAuth } from '../upstream/upstream-client.js'

/** What the mirror's logic knows of the request it serves; built by the HTTP layer. */
export interface RequestContext {
  log: Logger
  /** Aborted when the client goes away. */
  signal: AbortSignal
  /** How upstream requests made for this client authenticate. */
  auth: UpstreamAuth
}

/**
 * How a response was served, for logs and metrics. `coalesced`: joined another request's
 * in-flight fetch; `revalidated`: a stale tag confirmed upstream with a HEAD; `stale`:
 * served past its TTL because the upstream could not be asked.
 */
export type CacheOutcome = 'hit' | 'miss' | 'coalesced' | 'revalidated' | 'stale'
