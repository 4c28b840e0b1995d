import t from 'tap'
import { MirrorError } from '../../src/errors.js'
import { MAX_NAME_LENGTH, normaliseName, parseReference, validateName } from '../../src/oci/reference.js'

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
    return undefined
  } catch (e) {
    return e instanceof MirrorError ? e.code : 'not a MirrorError'
  }
}

t.test('valid repository names', async (t) => {
  for (const name of ['alpine', 'library/alpine', 'a/b/c/d', 'my-org/my_app', 'a__b', 'a.b-c', 'x--y', 'a0/9z']) {
    t.equal(validateName(name), name, name)
  }
})

t.test('invalid repository names are NAME_INVALID', async (t) => {
  const bad = [
    '',
    '../etc',
    'a/../b',
    '..',
    'Alpine',
    'a//b',
    '/a',
    'a/',
    'a_',
    '-a',
    'a___b',
    'a b',
    'a%2fb',
    'a'.repeat(MAX_NAME_LENGTH + 1),
    'x'.repeat(10 * 1024),
  ]
  for (const name of bad) {
    t.equal(
      codeOf(() => validateName(name)),
      'NAME_INVALID',
      JSON.stringify(name.slice(0, 20)),
    )
  }
  t.equal(
    codeOf(() => validateName('a'.repeat(MAX_NAME_LENGTH))),
    undefined,
    'the limit itself is fine',
  )
})

t.test('tags and digests', async (t) => {
  t.same(parseReference('3.19'), { kind: 'tag', tag: '3.19' })
  t.same(parseReference('latest'), { kind: 'tag', tag: 'latest' })
  t.same(parseReference('_x'), { kind: 'tag', tag: '_x' })
  t.equal(parseReference('w'.repeat(128)).kind, 'tag', '128 characters is the limit')
  t.equal(
    codeOf(() => parseReference('w'.repeat(129))),
    'TAG_INVALID',
  )
  t.equal(
    codeOf(() => parseReference('.hidden')),
    'TAG_INVALID',
  )
  t.equal(
    codeOf(() => parseReference('-x')),
    'TAG_INVALID',
  )
  t.equal(
    codeOf(() => parseReference('a/b')),
    'TAG_INVALID',
  )
  const digest = 'sha256:' + 'a'.repeat(64)
  t.match(parseReference(digest), { kind: 'digest', digest: { algorithm: 'sha256', value: digest } })
  t.equal(
    codeOf(() => parseReference('sha256:xyz')),
    'DIGEST_INVALID',
  )
})

t.test('Docker Hub naming puts one-component names under the default namespace', async (t) => {
  t.equal(normaliseName('alpine', 'library'), 'library/alpine')
  t.equal(normaliseName('library/alpine', 'library'), 'library/alpine')
  t.equal(normaliseName('bitnami/redis', 'library'), 'bitnami/redis')
  t.equal(normaliseName('alpine', ''), 'alpine', 'no namespace for other registries')
})
