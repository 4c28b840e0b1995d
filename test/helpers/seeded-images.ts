import { execFile } from 'node:child_process'
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { request } from 'undici'
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  OciLayoutWriter,
  sha256,
  type Descriptor,
} from './oci-layout.js'
import { startRegistry, type Registry } from './registry.js'
import { makeTempDir } from './temp-dir.js'
import { startTokenServer, type TokenServer } from './token-server.js'

const run = promisify(execFile)

/** Bump when the images below change, so a stale template is not reused. */
const FIXTURE_VERSION = 'v3'
export const SEED_USER = 'alice'
export const SEED_PASSWORD = 'alice-secret'
export const ACCEPT_ALL = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ')
export const BIG_LAYER_BYTES = 64 * 1024 * 1024

export interface SeededImage {
  repo: string
  tag: string
  /** The manifest the tag names for a client that accepts everything. */
  digest: string
  mediaType: string
  size: number
  /** Platform manifests of an index or list (empty for a single manifest). */
  children: Descriptor[]
  /** Configs and layers of every platform. */
  blobs: Array<{ digest: string; size: number }>
}

export interface Fixture {
  images: Record<string, SeededImage>
}

type ImageName = 'small' | 'multi' | 'docker2' | 'dlist' | 'big' | 'private'

const SOURCES: Record<ImageName, { repo: string; source: string; args: string[] }> = {
  small: { repo: 'library/small', source: 'small', args: [] },
  multi: { repo: 'library/multi', source: 'multi', args: ['--all'] },
  docker2: { repo: 'library/docker2', source: 'other', args: ['--format', 'v2s2'] },
  dlist: { repo: 'library/dlist', source: 'multi', args: ['--all', '--format', 'v2s2'] },
  big: { repo: 'library/big', source: 'big', args: [] },
  private: { repo: 'private/alice/secret', source: 'private', args: [] },
}

async function buildLayout(dir: string): Promise<void> {
  const w = new OciLayoutWriter(dir)
  const kib = 1024
  w.tag(
    'small',
    await w.image({
      os: 'linux',
      architecture: 'amd64',
      layers: [
        { size: kib, seed: 'small-1' },
        { size: 100 * kib, seed: 'small-2' },
        { size: 1024 * kib, seed: 'small-3' },
      ],
    }),
  )
  const amd64 = await w.image({
    os: 'linux',
    architecture: 'amd64',
    layers: [{ size: 10 * kib, seed: 'multi-amd64' }],
  })
  const arm64 = await w.image({
    os: 'linux',
    architecture: 'arm64',
    layers: [{ size: 20 * kib, seed: 'multi-arm64' }],
  })
  w.tag('multi', await w.index([amd64, arm64]))
  w.tag('other', await w.image({ os: 'linux', architecture: 'amd64', layers: [{ size: 30 * kib, seed: 'docker2' }] }))
  w.tag(
    'big',
    await w.image({
      os: 'linux',
      architecture: 'amd64',
      layers: [
        { size: BIG_LAYER_BYTES, seed: 'big' },
        { size: kib, seed: 'big-small' },
      ],
    }),
  )
  w.tag(
    'private',
    await w.image({
      os: 'linux',
      architecture: 'amd64',
      // Shares a base layer with library/small, like a private image built FROM a public one.
      layers: [
        { size: kib, seed: 'small-1' },
        { size: 5 * kib, seed: 'private-only' },
      ],
    }),
  )
  await w.finish()
}

/** A GET against the seeded registry as the seeding user, through the token dance. */
export async function registryGet(
  registry: { url: string },
  tokens: TokenServer,
  repo: string,
  path: string,
  accept = ACCEPT_ALL,
): Promise<Buffer> {
  const basic = Buffer.from(`${SEED_USER}:${SEED_PASSWORD}`).toString('base64')
  const tokenRes = await request(`${tokens.realm}?service=test-registry&scope=repository:${repo}:pull`, {
    headers: { authorization: `Basic ${basic}` },
  })
  const { token } = (await tokenRes.body.json()) as { token: string }
  const res = await request(`${registry.url}/v2/${repo}/${path}`, {
    headers: { authorization: `Bearer ${token}`, accept },
  })
  const body = Buffer.from(await res.body.arrayBuffer())
  if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${body.toString()}`)
  return body
}

interface ManifestJson {
  mediaType: string
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
}

async function describe(registry: Registry, tokens: TokenServer, repo: string, tag: string): Promise<SeededImage> {
  const top = await registryGet(registry, tokens, repo, `manifests/${tag}`)
  const json = JSON.parse(top.toString()) as ManifestJson
  const children = json.manifests ?? []
  const platformManifests =
    children.length > 0
      ? await Promise.all(
          children.map(
            async (c) =>
              JSON.parse(
                (await registryGet(registry, tokens, repo, `manifests/${c.digest}`)).toString(),
              ) as ManifestJson,
          ),
        )
      : [json]
  const blobs = platformManifests.flatMap((m) =>
    [m.config!, ...(m.layers ?? [])].map((d) => ({ digest: d.digest, size: d.size })),
  )
  return { repo, tag, digest: sha256(top), mediaType: json.mediaType, size: top.length, children, blobs }
}

/** Pushes the image tagged `tag` in an OCI layout to `repo:1` on a seeded registry, as the seed user. */
export async function pushLayoutImage(
  registryUrl: string,
  layout: string,
  tag: string,
  repo: string,
  extraArgs: string[] = [],
): Promise<void> {
  await run('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--dest-creds',
    `${SEED_USER}:${SEED_PASSWORD}`,
    ...extraArgs,
    `oci:${layout}:${tag}`,
    `docker://${registryUrl.slice('http://'.length)}/${repo}:1`,
  ])
}

async function seed(storageDir: string): Promise<Fixture> {
  const tokens = await startTokenServer()
  const registry = await startRegistry({ storageDir, tokenServer: tokens })
  const layout = await makeTempDir('layout')
  try {
    await buildLayout(layout.path)
    const images: Record<string, SeededImage> = {}
    for (const [name, source] of Object.entries(SOURCES)) {
      await pushLayoutImage(registry.url, layout.path, source.source, source.repo, source.args)
      images[name] = await describe(registry, tokens, source.repo, '1')
    }
    return { images }
  } finally {
    await registry.close()
    await tokens.close()
    await layout.remove()
  }
}

function templateDir(version: string): string {
  return join(tmpdir(), 'registry-mirror-fixtures', version)
}

/**
 * Builds a registry storage once per machine and version with `build`, and hands out the
 * template with what `build` said of it. Concurrent builders each build into their own
 * directory and the first rename wins, so no lock.
 */
export async function cachedTemplate<F>(
  version: string,
  build: (storageDir: string) => Promise<F>,
): Promise<{ storageDir: string; fixture: F }> {
  const dir = templateDir(version)
  const fixturePath = join(dir, 'fixture.json')
  try {
    const fixture = JSON.parse(await readFile(fixturePath, 'utf8')) as F
    return { storageDir: join(dir, 'storage'), fixture }
  } catch {
    // Not built yet: build below.
  }
  await mkdir(join(dir, '..'), { recursive: true })
  const building = `${dir}.building-${process.pid}-${Date.now()}`
  await mkdir(join(building, 'storage'), { recursive: true })
  try {
    const fixture = await build(join(building, 'storage'))
    await writeFile(join(building, 'fixture.json'), JSON.stringify(fixture, null, 2))
    await rename(building, dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e
    })
  } finally {
    await rm(building, { recursive: true, force: true })
  }
  return cachedTemplate(version, build)
}

/** The seeded registry storage, built once per machine and fixture version. */
export function seededTemplate(): Promise<{ storageDir: string; fixture: Fixture }> {
  return cachedTemplate(FIXTURE_VERSION, seed)
}

/** A private copy of the seeded storage, safe to corrupt. */
export async function copySeededStorage(target: string): Promise<Fixture> {
  const { storageDir, fixture } = await seededTemplate()
  await cp(storageDir, target, { recursive: true })
  return fixture
}
