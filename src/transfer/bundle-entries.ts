import { createReadStream } from 'node:fs'
import { opendir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import tar from 'tar-stream'
import { OperatorError, messageOf } from '../errors.js'
import { INDEX_FILE, MARKER_FILE, OCI_LAYOUT_FILE } from './bundle-format.js'

/** A file of a bundle, as it comes: its path in the layout, its size, its bytes. */
export interface BundleEntry {
  name: string
  size: number
  /** Must be consumed (or dropped with `skip`) before the next entry is asked for. */
  body: AsyncIterable<Buffer>
  skip(): void
}

/** Bundles are refused, not crashed on: a damaged tar is the operator's to fix. */
export class BundleError extends OperatorError {
  override readonly name = 'BundleError'
}

/** tar-stream hands out Buffers (b4a, on Node); its types say only `unknown`. */
async function* buffers(source: AsyncIterable<unknown>): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    if (!Buffer.isBuffer(chunk)) throw new Error('tar-stream gave something other than a Buffer')
    yield chunk
  }
}

/** The files of a tar, as they stream in; a tar that breaks off or is not one is a BundleError. */
export async function* tarEntries(input: Readable): AsyncIterable<BundleEntry> {
  const extract = tar.extract()
  input.on('error', (e: Error) => extract.destroy(e))
  input.pipe(extract)
  try {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '')
      if (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file') {
        entry.resume()
        continue
      }
      yield { name, size: entry.header.size, body: buffers(entry), skip: () => entry.resume() }
    }
  } catch (e) {
    if (e instanceof OperatorError) throw e
    throw new BundleError(`the bundle is not a whole tar (cut short, or not a tar): ${messageOf(e)}`)
  } finally {
    input.unpipe(extract)
    input.destroy()
  }
}

/** The files of an OCI image layout directory, in the order a tar of ours has them. */
export async function* dirEntries(dir: string): AsyncIterable<BundleEntry> {
  const file = async (name: string): Promise<BundleEntry | undefined> => {
    const path = join(dir, name)
    const info = await stat(path).catch(() => undefined)
    if (info === undefined || !info.isFile()) return undefined
    let stream: Readable | undefined
    return {
      name,
      size: info.size,
      body: {
        [Symbol.asyncIterator]: () => (stream ??= createReadStream(path))[Symbol.asyncIterator](),
      },
      skip: () => stream?.destroy(),
    }
  }
  for (const name of [OCI_LAYOUT_FILE, INDEX_FILE, MARKER_FILE]) {
    const entry = await file(name)
    if (entry !== undefined) yield entry
  }
  for await (const algorithm of await opendir(join(dir, 'blobs')).catch(() => [])) {
    if (!algorithm.isDirectory()) continue
    for await (const blob of await opendir(join(dir, 'blobs', algorithm.name))) {
      const entry = await file(`blobs/${algorithm.name}/${blob.name}`)
      if (entry !== undefined) yield entry
    }
  }
}
