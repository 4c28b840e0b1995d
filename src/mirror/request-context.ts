import type { ClientCredentials } from '../auth/client-credentials.js'
import type { Logger } from '../logger.js'
import type { UpstreamTrace } from '../upstream/upstream-client.js'

/** What the mirror's logic knows of the request it serves; built by the HTTP layer. */
export interface RequestContext {
  log: Logger
  /** Aborted when the client goes away. */
  signal: AbortSignal
  /** What the client presented: forwarded upstream for private repositories only, never stored. */
  credentials: ClientCredentials
  /** The last upstream status seen for this request, for its log line. */
  trace: UpstreamTrace
}

/**
 * How a response was served, for logs and metrics. `coalesced`: joined another request's
 * in-flight fetch; `revalidated`: a stale tag confirmed upstream with a HEAD; `stale`:
 * served past its TTL because the upstream could not be asked; `bypass`: a private
 * repository's content passed through without touching the cache.
 */
export type CacheOutcome = 'hit' | 'miss' | 'coalesced' | 'revalidated' | 'stale' | 'bypass'
