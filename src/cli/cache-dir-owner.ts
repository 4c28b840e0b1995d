import { mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { CacheDirBusyError, CacheLock } from '../cache/cache-lock.js'
import type { Config } from '../config/schema.js'
import { controlPath } from './control-protocol.js'

/** A serving mirror's hold on its cache dir, from start-up to exit. */
export interface CacheDirOwner {
  readonly lock: CacheLock
  /** Where it takes commands, when the path fits a Unix socket. */
  readonly control: string | undefined
}

/** A Unix socket's path is at most 107 bytes on Linux (104 on macOS). */
const MAX_SOCKET_PATH_BYTES = 103

/**
 * Called by the serve path before anything touches the cache dir (start-up sweeps its
 * temp files, which a second mirror must never do under a live one): takes the cache
 * dir's lock, or fails with one line naming the holder. The lock goes with the process,
 * however it exits short of SIGKILL; after a SIGKILL the next holder finds it stale.
 */
export async function ownCacheDir(config: Config): Promise<CacheDirOwner> {
  await mkdir(config.cacheDir, { recursive: true })
  const path = controlPath(config.cacheDir)
  const control = Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES ? path : undefined
  const lock = await CacheLock.acquire(config.cacheDir, { command: 'serve', ...(control && { control }) })
  process.once('exit', () => lock.releaseSync())
  return { lock, control }
}

/**
 * How a command that writes the cache runs: here, holding the cache dir's lock; or, when
 * a mirror on this host serves the dir, through that mirror's control socket, so that
 * one process writes the index. Anything else holding the dir is a refusal naming it.
 */
export async function onCacheDir<T>(
  config: Config,
  command: string,
  here: () => Promise<T>,
  there: (socket: string) => Promise<T>,
): Promise<T> {
  await mkdir(config.cacheDir, { recursive: true })
  let lock: CacheLock
  try {
    lock = await CacheLock.acquire(config.cacheDir, { command })
  } catch (e) {
    const holder = e instanceof CacheDirBusyError ? e.holder : undefined
    if (holder?.command === 'serve' && holder.control !== undefined && holder.host === hostname()) {
      return there(holder.control)
    }
    throw e
  }
  try {
    return await here()
  } finally {
    await lock.release()
  }
}
