import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import type { Test } from 'tap'
import { EmbeddedIndex } from '../../src/cache/embedded-index.js'
import { FsBlobStore } from '../../src/cache/fs-blob-store.js'
import type { ImageUpstream } from '../../src/oci/image-ref.js'
import { dirEntries } from '../../src/transfer/bundle-entries.js'
import { TarWriter } from '../../src/transfer/tar-writer.js'
import { filesUnder } from './cache-assertions.js'
import { OCI_INDEX, OciLayoutWriter, type Descriptor } from './oci-layout.js'
import { makeTempDir } from './temp-dir.js'

/** Bundles built in memory for the transfer code's own tests, with caches to take them. */

export const hub: ImageUpstream = { name: 'docker.io', defaultNamespace: 'library' }
export const ACCEPT_ALL = `${OCI_INDEX}, application/vnd.oci.image.manifest.v1+json`

export interface Layout {
  dir: string
  amd64: Descriptor
  arm64: Descriptor
  list: Descriptor
  /** index.json entries, as written. */
  refs: Array<Descriptor & { annotations: Record<string, string> }>
}

/** A layout with a two-platform index and a single image, named the ways tools name them. */
export async function layout(t: Test, seed = ''): Promise<Layout> {
  const dir = (await makeTempDir('layout')).path
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const w = new OciLayoutWriter(dir)
  const amd64 = await w.image({ os: 'linux', architecture: 'amd64', layers: [{ size: 2048, seed: `a${seed}` }] })
  const arm64 = await w.image({ os: 'linux', architecture: 'arm64', layers: [{ size: 4096, seed: `b${seed}` }] })
  const list = await w.index([amd64, arm64])
  await w.finish()
  const plain = ({ platform: _, ...d }: Descriptor) => d
  const refs: Layout['refs'] = [
    { ...plain(list), annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/multi:1' } },
    // docker save (Docker 25+): the full name in containerd's annotation, the tag alone in ref.name.
    {
      ...plain(amd64),
      annotations: { 'io.containerd.image.name': 'docker.io/library/one:2', 'org.opencontainers.image.ref.name': '2' },
    },
  ]
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: refs }))
  return { dir, amd64, arm64, list, refs }
}

export async function cache(t: Test) {
  const dir = (await makeTempDir('cache')).path
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const store = new FsBlobStore(dir)
  await store.init()
  const index = await EmbeddedIndex.open(join(dir, 'index'))
  t.teardown(() => index.close())
  let now = 1_000
  const deps = { store, index, upstreams: [hub], now: () => now++, cacheGrew: () => {} }
  return { dir, store, index, deps, snapshot: () => filesUnder(dir) }
}

export async function tarOfDir(dir: string): Promise<Buffer> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const tar = new TarWriter(out, { end: true })
  for await (const entry of dirEntries(dir)) await tar.addStream(entry.name, entry.size, entry.body)
  await tar.finish()
  return Buffer.concat(chunks)
}
