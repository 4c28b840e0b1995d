import t from 'tap'
import {
  apiPathKind,
  blobPath,
  manifestPath,
  parseApiPath,
  referrersPath,
  repositoryOf,
  tagListPath,
} from '../../src/oci/api-path.js'

const d = 'sha256:' + 'a'.repeat(64)

t.test('finds the endpoint from the end of the path', async (t) => {
  const table: Array<[string, ReturnType<typeof parseApiPath>]> = [
    ['/v2/', { kind: 'ping' }],
    ['/v2', { kind: 'ping' }],
    ['/v2/?ns=docker.io', { kind: 'ping' }],
    ['/v2/alpine/manifests/3.19', { kind: 'manifest', name: 'alpine', reference: '3.19' }],
    [
      '/v2/library/alpine/manifests/latest?ns=docker.io',
      { kind: 'manifest', name: 'library/alpine', reference: 'latest' },
    ],
    ['/v2/a/b/c/manifests/' + d, { kind: 'manifest', name: 'a/b/c', reference: d }],
    ['/v2/a/manifests/b/manifests/c', { kind: 'manifest', name: 'a/manifests/b', reference: 'c' }],
    ['/v2/library/alpine/blobs/' + d, { kind: 'blob', name: 'library/alpine', digest: d }],
    ['/v2/x/tags/list', { kind: 'tags', name: 'x' }],
    ['/v2/x/y/tags/list?n=10&last=a', { kind: 'tags', name: 'x/y' }],
    ['/v2/x/referrers/' + d, { kind: 'referrers', name: 'x', digest: d }],
    ['/v2/_catalog', { kind: 'other' }],
    ['/v2/x/blobs/uploads/', { kind: 'other' }],
    ['/v2/x/blobs/uploads/1234-uuid', { kind: 'other' }],
    ['/v2/x/manifests/', { kind: 'other' }],
    ['/v2/../etc/passwd/manifests/x', { kind: 'manifest', name: '../etc/passwd', reference: 'x' }],
  ]
  for (const [url, expected] of table) t.same(parseApiPath(url), expected, url)
})

t.test('the paths the mirror asks an upstream for name the endpoint they mean', async (t) => {
  const table: Array<[string, ReturnType<typeof parseApiPath>]> = [
    [manifestPath('library/alpine', 'latest'), { kind: 'manifest', name: 'library/alpine', reference: 'latest' }],
    [manifestPath('a/b/c', d), { kind: 'manifest', name: 'a/b/c', reference: d }],
    [blobPath('library/alpine', d), { kind: 'blob', name: 'library/alpine', digest: d }],
    [tagListPath('x/y'), { kind: 'tags', name: 'x/y' }],
    [referrersPath('x', d), { kind: 'referrers', name: 'x', digest: d }],
  ]
  for (const [path, expected] of table) t.same(parseApiPath(path), expected, path)
  t.equal(blobPath('library/alpine', d), `/v2/library/alpine/blobs/${d}`)
})

t.test('names and references are percent-decoded; an encoded slash never makes the endpoint', async (t) => {
  const encoded = d.replace(':', '%3A')
  const table: Array<[string, ReturnType<typeof parseApiPath>]> = [
    [`/v2/library/alpine/manifests/${encoded}`, { kind: 'manifest', name: 'library/alpine', reference: d }],
    [
      `/v2/library/alpine/manifests/${d.replace(':', '%3a')}`,
      { kind: 'manifest', name: 'library/alpine', reference: d },
    ],
    [`/v2/library/alpine/blobs/${encoded}`, { kind: 'blob', name: 'library/alpine', digest: d }],
    [`/v2/x/referrers/${encoded}?artifactType=a`, { kind: 'referrers', name: 'x', digest: d }],
    ['/v2/libr%61ry/alpine/manifests/%31', { kind: 'manifest', name: 'library/alpine', reference: '1' }],
    // Distribution decodes the whole path before routing: `library%2Falpine` is `library/alpine` there too.
    ['/v2/library%2Falpine/manifests/latest', { kind: 'manifest', name: 'library/alpine', reference: 'latest' }],
    ['/v2/library%2falpine/tags/list', { kind: 'tags', name: 'library/alpine' }],
    // The endpoint is found on the path as sent.
    ['/v2/library/alpine/manifests%2Flatest', { kind: 'other' }],
    [`/v2/library/alpine/blobs%2F${d}`, { kind: 'other' }],
    ['/v2/x/tags%2Flist', { kind: 'other' }],
    ['/v2/a/manifests/b%2Fc', { kind: 'manifest', name: 'a', reference: 'b/c' }],
    // Decoded, then refused by the name and reference grammars.
    ['/v2/..%2F..%2Fetc/manifests/x', { kind: 'manifest', name: '../../etc', reference: 'x' }],
    ['/v2/%2e%2e/x/manifests/latest', { kind: 'manifest', name: '../x', reference: 'latest' }],
    ['/v2/x/manifests/%00', { kind: 'manifest', name: 'x', reference: '\0' }],
  ]
  for (const [url, expected] of table) {
    t.same(parseApiPath(url), expected, url)
    t.equal(apiPathKind(url), expected.kind, `${url}: its kind`)
  }
})

t.test('a segment that does not decode is an invalid name, digest or tag', async (t) => {
  const table: Array<[string, string, ReturnType<typeof parseApiPath>['kind']]> = [
    ['/v2/%zz/manifests/1', 'NAME_INVALID', 'manifest'],
    ['/v2/library/a%C0%AF/blobs/' + d, 'NAME_INVALID', 'blob'],
    ['/v2/x%/tags/list', 'NAME_INVALID', 'tags'],
    ['/v2/x/manifests/1%', 'TAG_INVALID', 'manifest'],
    ['/v2/x/manifests/latest%zz', 'TAG_INVALID', 'manifest'],
    ['/v2/x/manifests/sha256%3A%zz', 'DIGEST_INVALID', 'manifest'],
    ['/v2/x/manifests/sha256:%E0%A4%A', 'DIGEST_INVALID', 'manifest'],
    ['/v2/x/blobs/sha256:%zz', 'DIGEST_INVALID', 'blob'],
    ['/v2/x/referrers/%', 'DIGEST_INVALID', 'referrers'],
  ]
  for (const [url, code, kind] of table) {
    t.throws(() => parseApiPath(url), { name: 'MirrorError', code, status: 400 }, url)
    t.equal(apiPathKind(url), kind, `${url}: its kind, without decoding`)
  }
})

t.test('the repository of any request, pushes and upload sessions included', async (t) => {
  const table: Array<[string, string | undefined]> = [
    ['/v2/', undefined],
    ['/v2/_catalog?n=10', undefined],
    ['/v2/ghcr.io/org/app/manifests/1?ns=ghcr.io', 'ghcr.io/org/app'],
    ['/v2/library/alpine/blobs/' + d, 'library/alpine'],
    ['/v2/x/tags/list', 'x'],
    ['/v2/x/referrers/' + d, 'x'],
    ['/v2/a/b/blobs/uploads/', 'a/b'],
    ['/v2/a/b/blobs/uploads/?mount=' + d + '&from=c', 'a/b'],
    ['/v2/a/b/blobs/uploads/1234-uuid?_state=xyz', 'a/b'],
    ['/v2/a/blobs/uploads', 'a'],
    ['/v2/x/blobs/uploads/manifests/1', 'x/blobs/uploads'],
    ['/v2/x/manifests/', undefined],
  ]
  for (const [url, expected] of table) t.equal(repositoryOf(url), expected, url)
})
