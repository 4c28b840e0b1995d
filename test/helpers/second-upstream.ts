import { execFile } from 'node:child_process'
import { cp } from 'node:fs/promises'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { request } from 'undici'
import { OciLayoutWriter, sha256 } from './oci-layout.js'
import { startRegistry, type Registry } from './registry.js'
import { writeHtpasswd } from './htpasswd.js'
import { ACCEPT_ALL, cachedTemplate } from './seeded-images.js'
import { makeTempDir } from './temp-dir.js'

const run = promisify(execFile)

/** Bump when the image below changes, so a stale template is not reused. */
const SECOND_FIXTURE_VERSION = 'second-v1'

/** The registry host clients know the second upstream by; it resolves nowhere, the mirror has its URL. */
export const SECOND_NAME = 'second.example'

export interface PlainImage {
  repo: string
  tag: string
  digest: string
  /** Config and layers. */
  blobs: Array<{ digest: string; size: number }>
}

export interface SecondFixture {
  /** `library/small:1`, like the first upstream's, but another image: one layer shared, one its own. */
  small: PlainImage
}

export interface SecondUpstream {
  readonly registry: Registry
  readonly fixture: SecondFixture
  /** host:port, as skopeo wants it. */
  readonly host: string
  close(): Promise<void>
}

/** An image of one config and a few layers, as the mirror's tests make them. */
export async function writeImage(dir: string, tag: string, layers: Array<{ size: number; seed: string }>) {
  const w = new OciLayoutWriter(dir)
  w.tag(tag, await w.image({ os: 'linux', architecture: 'amd64', layers }))
  await w.finish()
}

/** skopeo copy of a layout's image to a plain-HTTP registry that wants no credentials. */
export async function pushAnonymously(layout: string, tag: string, target: string): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${target}`])
}

/** A tag's manifest and blobs, from a registry that wants no credentials. */
export async function describePlain(registryUrl: string, repo: string, tag: string): Promise<PlainImage> {
  const response = await request(`${registryUrl}/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT_ALL } })
  const body = Buffer.from(await response.body.arrayBuffer())
  if (response.statusCode !== 200) throw new Error(`${repo}:${tag}: ${response.statusCode} ${body.toString()}`)
  const manifest = JSON.parse(body.toString()) as {
    config: { digest: string; size: number }
    layers: Array<{ digest: string; size: number }>
  }
  const blobs = [manifest.config, ...manifest.layers].map(({ digest, size }) => ({ digest, size }))
  return { repo, tag, digest: sha256(body), blobs }
}

async function seed(storageDir: string): Promise<SecondFixture> {
  const registry = await startRegistry({ storageDir })
  const layout = await makeTempDir('second-layout')
  try {
    // `small-1` is the seed of the first upstream's first library/small layer: the same bytes.
    await writeImage(layout.path, 'small', [
      { size: 1024, seed: 'small-1' },
      { size: 8 * 1024, seed: 'second-small' },
    ])
    const host = registry.url.slice('http://'.length)
    await pushAnonymously(layout.path, 'small', `${host}/library/small:1`)
    return { small: await describePlain(registry.url, 'library/small', '1') }
  } finally {
    await registry.close()
    await layout.remove()
  }
}

/**
 * A second upstream: CNCF Distribution with no auth at all (or Basic auth, given an
 * htpasswd file), holding another image under a name the first upstream also has, on a
 * private copy of its seeded storage.
 */
export async function startSecondUpstream(options: { htpasswd?: string } = {}): Promise<SecondUpstream> {
  const { storageDir, fixture } = await cachedTemplate(SECOND_FIXTURE_VERSION, seed)
  const storage = await makeTempDir('second-upstream')
  await cp(storageDir, storage.path, { recursive: true })
  const registry = await startRegistry({ storageDir: storage.path, htpasswd: options.htpasswd })
  return {
    registry,
    fixture,
    host: registry.url.slice('http://'.length),
    close: async () => {
      await registry.close()
      await storage.remove()
    },
  }
}

/** The second upstream with Basic auth for `users` (htpasswd), torn down with the test. */
export async function startBasicSecondUpstream(
  t: Test,
  users: Array<{ user: string; password: string }>,
): Promise<SecondUpstream> {
  const htpasswd = await writeHtpasswd(users)
  t.teardown(htpasswd.remove)
  const second = await startSecondUpstream({ htpasswd: htpasswd.file })
  t.teardown(() => second.close())
  return second
}
