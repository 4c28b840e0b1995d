/** Blobs fetched at once unless --concurrency says otherwise: a few streams fill a link. */
export const DEFAULT_CONCURRENCY = 4
export const MAX_CONCURRENCY = 64
