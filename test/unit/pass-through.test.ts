import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { UpstreamContentError } from '../../src/errors.js'
import { parseDigest } from '../../src/oci/digest.js'
import { StreamSource, VerifyingPassThrough } from '../../src/mirror/blobs/stream-source.js'

const data = [Buffer.from('first chunk, '), Buffer.from('second chunk, '), Buffer.from('last chunk')]
const digest = parseDigest('sha256:' + createHash('sha256').update(Buffer.concat(data)).digest('hex'))

async function drain(source: StreamSource, maxLength: number): Promise<Buffer> {
  const out: Buffer[] = []
  let position = 0
  for (;;) {
    const bytes = await source.read(position, maxLength)
    if (bytes.data.length === 0) return Buffer.concat(out)
    out.push(bytes.data)
    position += bytes.data.length
  }
}

t.test('a verified pass-through gives the bytes, in reads of any size', async (t) => {
  const verifier = new VerifyingPassThrough(digest, 37)
  void pipeline(Readable.from(data), verifier).catch(() => {})
  t.same(await drain(new StreamSource(verifier, 0), 5), Buffer.concat(data))
})

t.test('the last chunk is held back, and withheld for good on a mismatch', async (t) => {
  const wrong = parseDigest(`sha256:${'0'.repeat(64)}`)
  const verifier = new VerifyingPassThrough(wrong, undefined)
  void pipeline(Readable.from(data), verifier).catch(() => {})
  const source = new StreamSource(verifier, 0)
  const seen: Buffer[] = []
  const error = await (async () => {
    try {
      for (let position = 0; ;) {
        const bytes = await source.read(position, 1024)
        if (bytes.data.length === 0) return undefined
        seen.push(bytes.data)
        position += bytes.data.length
      }
    } catch (e) {
      return e
    }
  })()
  t.type(error, UpstreamContentError)
  t.notOk(Buffer.concat(seen).includes('last chunk'), 'the final chunk never went out')
})

t.test('a wrong length fails too', async (t) => {
  const verifier = new VerifyingPassThrough(digest, 36)
  await t.rejects(
    pipeline(Readable.from(data), verifier, async function* (source) {
      for await (const _ of source) yield
    }),
    /announced 36/,
  )
})
