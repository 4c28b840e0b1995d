import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'

export interface LayerSpec {
  /** Bytes of file content inside the layer's tar. */
  size: number
  seed: string
  /** 0 stores without compressing: quick for big incompressible layers. Default 1. */
  gzipLevel?: number
}

export interface PlatformImageSpec {
  os: string
  architecture: string
  layers: LayerSpec[]
  /** A `history` entry per layer, as image builders write: Distribution needs one to convert to schema 1. */
  history?: boolean
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { os: string; architecture: string }
}

const TAR_BLOCK = 512

/** Incompressible bytes that are the same on every run for the same seed (AES-CTR keystream). */
export function seededBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16)
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

/** A one-file ustar archive: enough for a real layer, without a tar dependency. */
export function tarOf(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(TAR_BLOCK)
  header.write(name, 0, 100)
  header.write(octal(0o644, 8), 100)
  header.write(octal(0, 8), 108)
  header.write(octal(0, 8), 116)
  header.write(octal(data.length, 12), 124)
  header.write(octal(0, 12), 136)
  header.write('        ', 148)
  header.write('0', 156)
  header.write('ustar\0', 257)
  header.write('00', 263)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(octal(sum, 7) + ' ', 148)
  const padding = (TAR_BLOCK - (data.length % TAR_BLOCK)) % TAR_BLOCK
  return Buffer.concat([header, data, Buffer.alloc(padding), Buffer.alloc(2 * TAR_BLOCK)])
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex')
}

/** Writes content-addressed blobs into an OCI image layout and records tags in index.json. */
export class OciLayoutWriter {
  private readonly refs: Array<Descriptor & { annotations: Record<string, string> }> = []

  constructor(readonly dir: string) {}

  async blob(mediaType: string, data: Buffer): Promise<Descriptor> {
    const digest = sha256(data)
    const dir = join(this.dir, 'blobs', 'sha256')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, digest.slice('sha256:'.length)), data)
    return { mediaType, digest, size: data.length }
  }

  async json(mediaType: string, value: unknown): Promise<Descriptor> {
    return this.blob(mediaType, Buffer.from(JSON.stringify(value)))
  }

  async image(spec: PlatformImageSpec): Promise<Descriptor> {
    const layers: Descriptor[] = []
    const diffIds: string[] = []
    for (const layer of spec.layers) {
      const tar = tarOf(`data-${layer.seed}`, seededBytes(layer.seed, layer.size))
      diffIds.push(sha256(tar))
      // A low level keeps big layers quick to build; the data is incompressible anyway.
      layers.push(await this.blob(OCI_LAYER_GZIP, gzipSync(tar, { level: layer.gzipLevel ?? 1 })))
    }
    const config = await this.json(OCI_CONFIG, {
      architecture: spec.architecture,
      os: spec.os,
      rootfs: { type: 'layers', diff_ids: diffIds },
      config: {},
      ...(spec.history === true
        ? { history: spec.layers.map((l) => ({ created: '2024-01-01T00:00:00Z', created_by: `add ${l.seed}` })) }
        : {}),
    })
    const manifest = await this.json(OCI_MANIFEST, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config,
      layers,
    })
    return { ...manifest, platform: { os: spec.os, architecture: spec.architecture } }
  }

  async index(manifests: Descriptor[]): Promise<Descriptor> {
    return this.json(OCI_INDEX, { schemaVersion: 2, mediaType: OCI_INDEX, manifests })
  }

  tag(tag: string, descriptor: Descriptor): void {
    const { platform: _platform, ...plain } = descriptor
    this.refs.push({ ...plain, annotations: { 'org.opencontainers.image.ref.name': tag } })
  }

  async finish(): Promise<void> {
    await writeFile(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
    await writeFile(
      join(this.dir, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: this.refs }),
    )
  }
}
