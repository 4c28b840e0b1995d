import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface SkopeoResult {
  stdout: string
  stderr: string
}

/** skopeo copy from a plain-HTTP registry (the mirror) into a `dir:` layout. */
export async function skopeoCopy(source: string, targetDir: string, extra: string[] = []): Promise<SkopeoResult> {
  return run(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--retry-times=0',
      ...extra,
      `docker://${source}`,
      `dir:${targetDir}`,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  )
}

export async function skopeo(args: string[]): Promise<SkopeoResult> {
  return run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 })
}

/**
 * Checks a `dir:` layout byte for byte: every blob file is named by its hex digest, so
 * each must hash to its own name. Returns the digests it holds.
 */
export async function verifyDirLayout(dir: string): Promise<string[]> {
  const digests: string[] = []
  for (const name of await readdir(dir)) {
    if (!/^[a-f0-9]{64}$/.test(name)) continue
    const actual = createHash('sha256')
      .update(await readFile(join(dir, name)))
      .digest('hex')
    if (actual !== name) throw new Error(`${name} hashes to ${actual}`)
    digests.push(`sha256:${name}`)
  }
  return digests
}
