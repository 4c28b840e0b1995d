import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TempDir {
  readonly path: string
  readonly remove: () => Promise<void>
}

export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `registry-mirror-${prefix}-`))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}
