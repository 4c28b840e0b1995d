import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { makeTempDir, type TempDir } from './temp-dir.js'

const run = promisify(execFile)

/**
 * An htpasswd file for Distribution's Basic auth. Distribution reads bcrypt hashes only,
 * so they come from Apache's `htpasswd -B`. Remove the dir when done.
 */
export async function writeHtpasswd(
  users: Array<{ user: string; password: string }>,
): Promise<TempDir & { file: string }> {
  const dir = await makeTempDir('htpasswd')
  const lines = await Promise.all(
    users.map(async ({ user, password }) => (await run('htpasswd', ['-nbB', user, password])).stdout.trim()),
  )
  const file = join(dir.path, 'htpasswd')
  await writeFile(file, lines.join('\n') + '\n')
  return { ...dir, file }
}
