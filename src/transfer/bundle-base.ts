import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { OperatorError } from '../errors.js'
import { tryParseDigest } from '../oci/digest.js'
import { parseRecord } from '../cache/records.js'
import { tarEntries, type BundleEntry } from './bundle-entries.js'
import {
  descriptionSchema,
  digestListText,
  digestOfEntry,
  MARKER_FILE,
  markerSchema,
  sha256Of,
  type BundleBase,
} from './bundle-format.js'

/** What an incremental bundle is based on: the base's identity, and the blobs it holds. */
export interface Base {
  base: BundleBase
  digests: Set<string>
}

function baseOf(source: string, digests: Iterable<string>, created?: string): Base {
  const set = new Set(digests)
  const id = sha256Of(digestListText(set))
  return { base: { id, source: basename(source), ...(created === undefined ? {} : { created }) }, digests: set }
}

/** `--base-list FILE`: a digest list as `export --digests-out` writes it. */
export async function baseFromList(path: string): Promise<Base> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new OperatorError(`cannot read the base list ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)
  })
  const lines = text.split('\n').map((l) => l.trim())
  const digests: string[] = []
  for (const [i, line] of lines.entries()) {
    if (line === '') continue
    if (tryParseDigest(line) === undefined) throw new OperatorError(`${path}, line ${i + 1}: "${line}" is not a digest`)
    digests.push(line)
  }
  return baseOf(path, digests)
}

async function text(entry: BundleEntry): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of entry.body) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * `--base OLD.tar`: the blobs an old bundle leaves a site holding. For ours, what its
 * description lists (carried or itself left out), read from the start of the tar; for
 * another tool's, the blobs the tar carries, read to its end.
 */
export async function baseFromBundle(path: string): Promise<Base> {
  const input = createReadStream(path)
  const opened = new Promise<void>((resolve, reject) => input.once('open', () => resolve()).once('error', reject))
  await opened.catch((e: NodeJS.ErrnoException) => {
    throw new OperatorError(`cannot read the base bundle ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)
  })
  let described: string | undefined
  const carried: string[] = []
  for await (const entry of tarEntries(input)) {
    const digest = digestOfEntry(entry.name)
    if (entry.name === MARKER_FILE) described = parseRecord(markerSchema, await text(entry))?.bundle
    else if (digest !== undefined && digest === described) {
      const description = parseRecord(descriptionSchema, await text(entry))
      if (description !== undefined) return baseOf(path, description.contents, description.created)
    } else {
      if (digest !== undefined) carried.push(digest)
      entry.skip()
    }
  }
  return baseOf(path, carried)
}
