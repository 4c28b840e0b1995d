import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Index } from '../cache/cache-index.js'
import { CacheLock } from '../cache/cache-lock.js'
import { EmbeddedIndex } from '../cache/embedded-index.js'
import { FsBlobStore } from '../cache/fs-blob-store.js'
import { openIndex } from '../cache/open-index.js'
import { reconcile, type ReconcileReport } from '../cache/reconcile.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { commandLog, configFrom, type Flags } from './settings.js'

/**
 * `registry-mirror reindex`: hashes every cached file, deletes those that no longer match
 * their digest, and brings a Redis index in line with the disk (after a FLUSHALL or a new
 * Redis, nothing on disk is lost). The embedded index is rebuilt from the disk at each
 * start, so for it this is the verification alone.
 */
export async function reindex(config: Config, log: Logger): Promise<ReconcileReport> {
  const store = new FsBlobStore(config.cacheDir)
  await store.init({ sweep: false })
  let scratch: string | undefined
  let index: Index
  if (config.redisUrl === undefined) {
    scratch = await mkdtemp(join(tmpdir(), 'registry-mirror-reindex-'))
    index = await EmbeddedIndex.open(scratch)
  } else {
    index = (await openIndex(config, log)).index
  }
  try {
    return await reconcile(store, index, log, { verify: true })
  } finally {
    await index.close()
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true })
  }
}

/** `registry-mirror reindex`, as the command line gives it. */
export async function reindexAction(flags: Flags): Promise<void> {
  const config = configFrom(flags)
  // It deletes files and rewrites records: one writer per cache dir.
  const lock = await CacheLock.acquire(config.cacheDir, { command: 'reindex' })
  const report = await reindex(config, commandLog(config)).finally(() => lock.release())
  process.stdout.write(`dropped ${report.dropped}, added ${report.added}, removed ${report.removed}\n`)
}
