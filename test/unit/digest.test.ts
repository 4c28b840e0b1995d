import t from 'tap'
import type { MirrorError } from '../../src/errors.js'
import { digestOf, parseDigest, tryParseDigest } from '../../src/oci/digest.js'

const hex64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

t.test('parses supported digests', async (t) => {
  t.same(parseDigest(`sha256:${hex64}`), { algorithm: 'sha256', hex: hex64, value: `sha256:${hex64}` })
  const hex128 = 'cf83'.repeat(32)
  t.equal(parseDigest(`sha512:${hex128}`).algorithm, 'sha512')
})

t.test('rejects malformed and unsupported digests with DIGEST_INVALID', async (t) => {
  const cases: Array<[string, RegExp]> = [
    [`sha256:${hex64.toUpperCase()}`, /invalid/],
    [`sha256:${hex64.slice(1)}`, /invalid/],
    [`sha256:${hex64}0`, /invalid/],
    [`md5:${'a'.repeat(32)}`, /unsupported/],
    [`sha256+b64:${hex64}`, /unsupported/],
    ['sha256', /invalid/],
    [':abc', /invalid/],
    [`SHA256:${hex64}`, /invalid/],
    [`sha256:${hex64}/../x`, /invalid/],
  ]
  for (const [value, message] of cases) {
    const error = t.throws(() => parseDigest(value)) as MirrorError
    t.equal(error.code, 'DIGEST_INVALID', value)
    t.equal(error.status, 400)
    t.match(error.message, message)
  }
  t.equal(tryParseDigest('nope'), undefined)
  t.equal(tryParseDigest(undefined), undefined)
})

t.test('digestOf hashes with the given algorithm', async (t) => {
  t.equal(digestOf('sha256', Buffer.alloc(0)), `sha256:${hex64}`)
})
