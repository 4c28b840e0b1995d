import { open, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replaces a file atomically and durably: the new contents go to a temp file beside it,
 * which is flushed to disk before the rename, and the directory is flushed after it. A
 * crash at any point leaves the old file or the new one, whole; without the first flush
 * a crash soon after the rename can leave an empty file under the name (ext4 and XFS
 * commit the rename before the data).
 */
export async function replaceFile(path: string, contents: string | Buffer): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`
  const handle = await open(temp, 'w')
  try {
    await handle.writeFile(contents)
    await handle.sync()
  } catch (e) {
    await handle.close()
    await unlink(temp).catch(() => {})
    throw e
  }
  await handle.close()
  await rename(temp, path)
  await syncDir(dirname(path))
}

/** Flushes a directory's entries (a rename, a new or deleted file in it) to disk. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
