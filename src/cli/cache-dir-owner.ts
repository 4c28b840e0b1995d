import { mkdir } from 'node:fs/promises'
import { CacheLock } from '../cache/cache-lock.js'
import type { Config } from '../config/schema.js'

/** A serving mirror's hold on its cache dir, from start-up to exit. */
export interface CacheDirOwner {
  readonly lock: CacheLock
}

/**
 * Called by the serve path before anything touches the cache dir (start-up sweeps its
 * temp files, which a second mirror must never do under a live one): takes the cache
 * dir's lock, or fails with one line naming the holder. The lock goes with the process,
 * however it exits short of SIGKILL; after a SIGKILL the next holder finds it stale.
 */
export async function ownCacheDir(config: Config): Promise<CacheDirOwner> {
  await mkdir(config.cacheDir, { recursive: true })
  const lock = await CacheLock.acquire(config.cacheDir, { command: 'serve' })
  process.once('exit', () => lock.releaseSync())
  return { lock }
}
