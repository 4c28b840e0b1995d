// A synthetic cache dir of N blobs in the FsBlobStore layout, for `npm run bench:scale` and
// the big-cache tests: `blobs/sha256/<2 hex>/<hex>`, each file hashing to its name, a
// `<hex>.json` beside each manifest. Run alone: `tsx bench/make-cache.ts <dir> [count]`.
//
// Contents are a shared random pattern cut to one of a few hundred sizes, ended by a
// 16-byte suffix unique to the blob: the hash of each pattern prefix is computed once and
// copied, so a blob costs one small hash update, and writing dominates.
import { fork } from 'node:child_process'
import { createHash, type Hash } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, mkdirSync, openSync, statSync, writeSync, writevSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Bump when what a blob index maps to changes: caches made before are made again. */
const FORMAT = 1
const DONE_FILE = 'make-cache.json'
const SUFFIX_BYTES = 16
/** One blob in this many is a manifest naming the blobs after it (Docker Hub images have ~5 layers). */
export const MANIFEST_EVERY = 25
/** One blob in this many is large (16 KiB–1 MiB); the others are small (512 B–16 KiB). */
const LARGE_EVERY = 200
const SMALL_SIZES = logSizes(512, 16 * 1024, 256)
const LARGE_SIZES = logSizes(16 * 1024, 1024 * 1024, 32)
export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]
/** The upstream recorded beside manifests. */
export const BENCH_UPSTREAM = 'bench.example'
/** Repositories the manifests belong to: manifest m is in `bench/r<m % REPOS>`. */
export const REPOS = 100

function logSizes(min: number, max: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.round(min * (max / min) ** (i / (count - 1))))
}

/** A small deterministic mix of the bits of n (the blob index): sizes and layer counts. */
function mix(n: number): number {
  let x = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

const pattern = createHash('sha512').update('registry-mirror bench pattern').digest()
const PATTERN = Buffer.alloc(LARGE_SIZES.at(-1)!)
for (let i = 0; i < PATTERN.length; i += pattern.length) pattern.copy(PATTERN, i)
// Not all zeros, not compressible in an obvious way: every 64-byte block differs.
for (let i = 0; i < PATTERN.length; i += 64) PATTERN.writeUInt32BE(i, i)

const prefixHashes = new Map<number, Hash>()
function prefixHash(size: number): Hash {
  let hash = prefixHashes.get(size)
  if (hash === undefined) {
    hash = createHash('sha256').update(PATTERN.subarray(0, size - SUFFIX_BYTES))
    prefixHashes.set(size, hash)
  }
  return hash
}

function suffixOf(n: number): Buffer {
  const suffix = Buffer.alloc(SUFFIX_BYTES)
  suffix.write('blob', 0, 'latin1')
  suffix.writeUInt32BE(FORMAT, 4)
  suffix.writeDoubleBE(n, 8)
  return suffix
}

export interface GeneratedBlob {
  digest: string
  size: number
  /** Set for manifests. */
  mediaType?: string
}

export const isManifest = (n: number) => n % MANIFEST_EVERY === 0

function layerSize(n: number): number {
  const r = mix(n)
  const sizes = r % LARGE_EVERY === 0 ? LARGE_SIZES : SMALL_SIZES
  return sizes[(r >>> 8) % sizes.length]!
}

/** The blobs manifest n names: a config and 1–8 layers, the blobs right after it. */
function layersOf(n: number, count: number): number[] {
  const layers = 1 + (mix(n) % 8)
  return Array.from({ length: 1 + layers }, (_, i) => n + 1 + i).filter((i) => i < count && !isManifest(i))
}

function manifestBody(n: number, count: number): { body: Buffer; mediaType: string } {
  const mediaType = MANIFEST_TYPES[n % MANIFEST_TYPES.length]!
  const [config, ...layers] = layersOf(n, count).map((i) => ({ ...describeBlob(i, count), i }))
  const descriptor = (type: string, b: GeneratedBlob | undefined) =>
    b === undefined ? undefined : { mediaType: type, digest: b.digest, size: b.size }
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: descriptor('application/vnd.oci.image.config.v1+json', config),
    layers: layers.map((l) => descriptor('application/vnd.oci.image.layer.v1.tar+gzip', l)),
    annotations: { 'org.example.bench': String(n) },
  }
  return { body: Buffer.from(JSON.stringify(manifest)), mediaType }
}

/** What blob n of a cache of `count` is: the same every time, without touching the disk. */
export function describeBlob(n: number, count: number): GeneratedBlob {
  if (isManifest(n)) {
    const { body, mediaType } = manifestBody(n, count)
    return { digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length, mediaType }
  }
  const size = layerSize(n)
  const hex = prefixHash(size).copy().update(suffixOf(n)).digest('hex')
  return { digest: `sha256:${hex}`, size }
}

function pathOf(dir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex)
}

/**
 * Writes blobs [from, to) with synchronous calls (a worker process does nothing else),
 * except those already there whole: a cache cut short, or thinned by an eviction
 * benchmark, is completed.
 */
function writeRange(dir: string, from: number, to: number, count: number): void {
  for (let n = from; n < to; n++) {
    const blob = describeBlob(n, count)
    const path = pathOf(dir, blob.digest)
    if (statSync(path, { throwIfNoEntry: false })?.size === blob.size) continue
    const fd = openSync(path, 'w')
    try {
      if (blob.mediaType !== undefined) writeSync(fd, manifestBody(n, count).body)
      else writevSync(fd, [PATTERN.subarray(0, blob.size - SUFFIX_BYTES), suffixOf(n)])
    } finally {
      closeSync(fd)
    }
    if (blob.mediaType !== undefined) {
      const meta = JSON.stringify({ mediaType: blob.mediaType, upstream: BENCH_UPSTREAM })
      const metaFd = openSync(`${path}.json`, 'w')
      writeSync(metaFd, meta)
      closeSync(metaFd)
    }
  }
}

interface Done {
  format: number
  count: number
  bytes: number
}

/** The cache's description when `dir` holds a complete one of `count` blobs. */
export async function completeCache(dir: string, count: number): Promise<Done | undefined> {
  const text = await readFile(join(dir, DONE_FILE), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  const done = JSON.parse(text) as Done
  return done.format === FORMAT && done.count === count ? done : undefined
}

export interface MakeCacheOptions {
  /** Worker processes writing in parallel; the default is one per core. */
  workers?: number
  onProgress?: (message: string) => void
}

/**
 * Makes a cache of `count` blobs in `dir` unless it already holds one (a complete cache
 * is left as it is: making a million files takes minutes; one marked incomplete is
 * completed). Resolves with its size.
 */
export async function makeCache(dir: string, count: number, options: MakeCacheOptions = {}): Promise<Done> {
  const existing = await completeCache(dir, count)
  if (existing !== undefined) return existing
  const previous = await readFile(join(dir, DONE_FILE), 'utf8').catch(() => undefined)
  // Made for another count or format: a new one from scratch.
  if (previous !== undefined) await rm(dir, { recursive: true, force: true })
  options.onProgress?.(`making a cache of ${count} blobs in ${dir}…`)
  for (let p = 0; p < 256; p++) {
    mkdirSync(join(dir, 'blobs', 'sha256', p.toString(16).padStart(2, '0')), { recursive: true })
  }
  await mkdir(join(dir, 'tmp'), { recursive: true })
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), Math.ceil(count / 1000)))
  const started = performance.now()
  const step = Math.ceil(count / workers)
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const args = ['--range', dir, String(w * step), String(Math.min(count, (w + 1) * step)), String(count)]
      const child = fork(fileURLToPath(import.meta.url), args, { execArgv: process.execArgv, stdio: 'inherit' })
      const [code] = (await once(child, 'exit')) as [number | null]
      if (code !== 0) throw new Error(`cache generator worker ${w} exited with ${code}`)
    }),
  )
  let bytes = 0
  for (let n = 0; n < count; n++) bytes += describeBlob(n, count).size
  const done: Done = { format: FORMAT, count, bytes }
  await writeFile(join(dir, DONE_FILE), JSON.stringify(done))
  const seconds = (performance.now() - started) / 1000
  options.onProgress?.(`made ${count} blobs (${(bytes / 2 ** 30).toFixed(2)} GiB) in ${seconds.toFixed(1)} s`)
  return done
}

/** Marks the cache as to be completed before its next use (a benchmark is about to delete files). */
export async function markIncomplete(dir: string): Promise<void> {
  await rm(join(dir, DONE_FILE), { force: true })
}

/** Tag mappings and verdicts for the generated manifests, as the mirror keys them. */
export function* benchTags(count: number): Generator<{ repo: string; tag: string; blob: GeneratedBlob }> {
  for (let n = 0; n < count; n += MANIFEST_EVERY) {
    yield { repo: `bench/r${(n / MANIFEST_EVERY) % REPOS}`, tag: `t${n}`, blob: describeBlob(n, count) }
  }
}

const argv = process.argv.slice(2)
if (argv[0] === '--range') {
  const [dir, from, to, count] = argv.slice(1)
  writeRange(dir!, Number(from), Number(to), Number(count))
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, count = '1000000'] = argv
  if (dir === undefined) throw new Error('usage: make-cache <dir> [count]')
  await makeCache(dir, Number(count), { onProgress: (m) => process.stderr.write(m + '\n') })
}
