import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { openIndex } from '../../src/cache/open-index.js'
import { loadConfig } from '../../src/config/load.js'
import { silentLogger } from '../../src/logger.js'

/**
 * What a stopped mirror left for one blob: its file, its temp files, and its index record
 * as the next start finds it: in Redis when `redisUrl` is given; the embedded index keeps
 * no blob records on disk but rebuilds them from the files, so there it is the file.
 */
export async function cacheDirHolds(
  cacheDir: string,
  digest: string,
  redisUrl?: string,
): Promise<{ file: boolean; indexed: boolean; temps: string[] }> {
  const hex = digest.slice('sha256:'.length)
  const file = await stat(join(cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex)).then(
    () => true,
    () => false,
  )
  const temps = await readdir(join(cacheDir, 'tmp'))
  if (redisUrl === undefined) return { file, indexed: file, temps }
  const { index } = await openIndex(loadConfig({ flags: { cacheDir, redisUrl }, env: {} }), silentLogger)
  try {
    return { file, indexed: (await index.getBlob(digest)) !== undefined, temps }
  } finally {
    await index.close()
  }
}
