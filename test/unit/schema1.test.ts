import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { UpstreamContentError } from '../../src/errors.js'
import { readVerifiedManifest } from '../../src/mirror/manifests/manifest-body.js'
import { parseDigest } from '../../src/oci/digest.js'
import { schema1Payload } from '../../src/oci/schema1.js'
import type { UpstreamResponse } from '../../src/upstream/upstream-client.js'

const SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws'
const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url')
const digest = (data: Buffer) => 'sha256:' + createHash('sha256').update(data).digest('hex')

/**
 * A schema 1 manifest signed the way libtrust signs one: the payload indented by three
 * spaces, the signature array spliced in before its closing brace, and the splice point
 * recorded in each signature's protected header.
 */
function signSchema1(manifest: object, signers = 1): { body: Buffer; payload: Buffer } {
  const payload = Buffer.from(JSON.stringify(manifest, null, 3))
  const formatLength = payload.lastIndexOf('}', payload.length) - 1
  const tail = payload.subarray(formatLength)
  const signatures = Array.from({ length: signers }, (_, i) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const header = { formatLength, formatTail: b64url(tail), time: `2024-01-01T00:00:0${i}Z` }
    const protectedHeader = b64url(JSON.stringify(header))
    const signature = sign('sha256', Buffer.from(`${protectedHeader}.${b64url(payload)}`), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    })
    return {
      header: { jwk: publicKey.export({ format: 'jwk' }), alg: 'ES256' },
      signature: b64url(signature),
      protected: protectedHeader,
    }
  })
  const spliced = `,\n   "signatures": ${JSON.stringify(signatures, null, 3).replace(/\n/g, '\n   ')}\n}`
  return { body: Buffer.concat([payload.subarray(0, formatLength), Buffer.from(spliced)]), payload }
}

const manifest = {
  schemaVersion: 1,
  name: 'library/legacy',
  tag: '1',
  architecture: 'amd64',
  fsLayers: [{ blobSum: `sha256:${'a'.repeat(64)}` }],
  history: [{ v1Compatibility: '{"id":"x"}' }],
}

t.test('the digest of a signed schema 1 manifest is the digest of its signed payload', async (t) => {
  for (const signers of [1, 2]) {
    const { body, payload } = signSchema1(manifest, signers)
    t.not(digest(body), digest(payload), 'the bytes hash to something else')
    t.same(schema1Payload(body), payload, `${signers} signature(s): the payload, exactly`)
    t.match(JSON.parse(body.toString()) as unknown, { signatures: Array.from({ length: signers }, () => Object) })
  }
})

t.test('a body that is not a well-formed signed manifest is refused', async (t) => {
  const { body } = signSchema1(manifest)
  const json = JSON.parse(body.toString()) as { signatures: Array<{ protected: string }> }
  const withProtected = (value: unknown) =>
    Buffer.from(JSON.stringify({ ...json, signatures: [{ ...json.signatures[0], protected: value }] }))
  const header = JSON.parse(Buffer.from(json.signatures[0]!.protected, 'base64url').toString()) as object
  const table: Array<[string, Buffer]> = [
    ['not JSON', Buffer.from('{"schemaVersion": 1,')],
    ['no signatures', Buffer.from(JSON.stringify(manifest))],
    ['an empty signature list', Buffer.from(JSON.stringify({ ...manifest, signatures: [] }))],
    ['a protected header that is not base64url', withProtected('!!!')],
    ['a protected header that is not JSON', withProtected(b64url('nope'))],
    ['no format length', withProtected(b64url(JSON.stringify({ formatTail: 'fQ' })))],
    ['a negative format length', withProtected(b64url(JSON.stringify({ ...header, formatLength: -1 })))],
    ['a format length beyond the body', withProtected(b64url(JSON.stringify({ ...header, formatLength: 1e9 })))],
    ['a format tail that is not base64url', withProtected(b64url(JSON.stringify({ ...header, formatTail: '*' })))],
    ['a payload that is not JSON', withProtected(b64url(JSON.stringify({ ...header, formatLength: 5 })))],
  ]
  for (const [name, bad] of table) t.throws(() => schema1Payload(bad), UpstreamContentError, name)

  const two = JSON.parse(signSchema1(manifest, 2).body.toString()) as typeof json
  const other = b64url(JSON.stringify({ ...header, formatLength: 7 }))
  const disagreeing = { ...two, signatures: [two.signatures[0], { ...two.signatures[1], protected: other }] }
  t.throws(() => schema1Payload(Buffer.from(JSON.stringify(disagreeing))), UpstreamContentError, 'signatures disagree')
})

/** A 200 answer as the upstream client hands it over. */
function answer(body: Buffer, contentType: string, announced: string): UpstreamResponse {
  return {
    status: 200,
    headers: { 'content-type': contentType, 'docker-content-digest': announced },
    body: Object.assign(Readable.from([body]), { dump: async () => {} }),
  }
}

t.test('a schema 1 answer is verified by its payload digest, and a changed payload is refused', async (t) => {
  const { body, payload } = signSchema1(manifest)
  const announced = digest(payload)
  const response = (bytes: Buffer, contentType = SIGNED) => answer(bytes, contentType, announced)
  const read = await readVerifiedManifest(response(body), undefined)
  t.match(read, { digest: announced, mediaType: SIGNED, size: body.length }, 'by the announced digest')
  t.same(read.body, body, 'the bytes as sent')
  const byDigest = await readVerifiedManifest(response(body), parseDigest(announced))
  t.equal(byDigest.digest, announced, 'by the digest asked for')
  const generic = await readVerifiedManifest(response(body, 'application/json'), undefined)
  t.match(generic, { digest: announced, mediaType: SIGNED }, 'a generic type: the body says it is signed schema 1')

  const tampered = Buffer.from(body.toString().replace('"tag": "1"', '"tag": "2"'))
  t.not(tampered.toString(), body.toString(), 'the payload did change')
  await t.rejects(readVerifiedManifest(response(tampered), undefined), UpstreamContentError, 'a changed payload')
})
