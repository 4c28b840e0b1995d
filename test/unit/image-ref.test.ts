import t from 'tap'
import { upstreamsOf } from '../../src/config/upstreams.js'
import { OperatorError } from '../../src/errors.js'
import { imageName, resolveImage, type ImageUpstream } from '../../src/oci/image-ref.js'
import { testConfig } from '../helpers/mirror.js'

const hub: ImageUpstream = { name: 'docker.io', defaultNamespace: 'library' }
const ghcr: ImageUpstream = { name: 'ghcr.io', defaultNamespace: '' }
const local: ImageUpstream = { name: 'localhost:5000', defaultNamespace: '' }
const upstreams = [hub, ghcr, local]
const D = `sha256:${'ab'.repeat(32)}`

function thrown(fn: () => unknown): Error | undefined {
  try {
    fn()
  } catch (e) {
    return e as Error
  }
  return undefined
}

t.test('what users type resolves to an upstream, a repository and a tag or digest', async (t) => {
  const table: Array<[string, string, string, string | undefined, string | undefined]> = [
    // typed, upstream, repo, tag, digest
    ['alpine', 'docker.io', 'library/alpine', 'latest', undefined],
    ['alpine:3.19', 'docker.io', 'library/alpine', '3.19', undefined],
    ['library/alpine:3.19', 'docker.io', 'library/alpine', '3.19', undefined],
    ['docker.io/library/alpine:3.19', 'docker.io', 'library/alpine', '3.19', undefined],
    ['docker.io/alpine:3.19', 'docker.io', 'library/alpine', '3.19', undefined],
    ['index.docker.io/library/alpine:3.19', 'docker.io', 'library/alpine', '3.19', undefined],
    ['registry-1.docker.io/bitnami/redis', 'docker.io', 'bitnami/redis', 'latest', undefined],
    [`alpine@${D}`, 'docker.io', 'library/alpine', undefined, D],
    [`alpine:3.19@${D}`, 'docker.io', 'library/alpine', '3.19', D],
    ['ghcr.io/owner/app:v1.2.3', 'ghcr.io', 'owner/app', 'v1.2.3', undefined],
    ['ghcr.io/app', 'ghcr.io', 'app', 'latest', undefined],
    ['localhost:5000/x', 'localhost:5000', 'x', 'latest', undefined],
    ['localhost:5000/x/y:t', 'localhost:5000', 'x/y', 't', undefined],
    ['  alpine:3.19 ', 'docker.io', 'library/alpine', '3.19', undefined],
  ]
  for (const [typed, upstream, repo, tag, digest] of table) {
    const ref = resolveImage(typed, upstreams)
    t.same([ref.upstream.name, ref.repo, ref.tag, ref.digest], [upstream, repo, tag, digest], typed)
  }
})

t.test('the full name is canonical', async (t) => {
  t.equal(imageName(resolveImage('alpine:3.19', upstreams)), 'docker.io/library/alpine:3.19')
  t.equal(imageName(resolveImage('index.docker.io/library/alpine', upstreams)), 'docker.io/library/alpine:latest')
  t.equal(imageName(resolveImage(`alpine@${D}`, upstreams)), `docker.io/library/alpine@${D}`)
  t.equal(imageName(resolveImage(`alpine:1@${D}`, upstreams)), `docker.io/library/alpine:1@${D}`)
})

t.test('bad references are one clear operator error', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['Alpine', /repository name must be lowercase/],
    ['', /repository name/],
    ['alpine:', /"" is not a tag/],
    ['alpine:-x', /"-x" is not a tag/],
    ['alpine@sha256:1234', /"sha256:1234" is not a digest/],
    ['a//b', /repository name/],
    [
      'quay.io/x/y',
      /registry quay\.io is not served by this mirror \(it serves docker\.io, ghcr\.io, localhost:5000\)/,
    ],
    ['localhost:5001/x', /registry localhost:5001 is not served/],
  ]
  for (const [typed, message] of table) {
    const caught = thrown(() => resolveImage(typed, upstreams))
    t.match(caught?.message, message, typed)
    t.ok(caught instanceof OperatorError, 'an operator error: one line, no stack')
  }
})

t.test('the upstreams are those of the config, named as requests route to them', async (t) => {
  const [dockerHub] = upstreamsOf(testConfig('https://registry-1.docker.io', '/tmp/x'))
  t.match(dockerHub, { name: 'docker.io', defaultNamespace: 'library' })
  const config = testConfig('http://127.0.0.1:5000', '/tmp/x', { upstreams: 'ghcr.io=https://ghcr.io' })
  const upstreams = upstreamsOf(config)
  t.same(
    upstreams.map((u) => [u.name, u.defaultNamespace]),
    [
      ['127.0.0.1:5000', ''],
      ['ghcr.io', ''],
    ],
  )
  t.equal(resolveImage('library/small:1', upstreams).upstream.name, '127.0.0.1:5000', 'no prefix: the default')
  t.equal(resolveImage('127.0.0.1:5000/library/small:1', upstreams).tag, '1')
  t.equal(resolveImage('ghcr.io/org/app:2', upstreams).upstream.name, 'ghcr.io', 'the prefix picks the upstream')
  t.equal(resolveImage('GHCR.IO/org/app', upstreams).repo, 'org/app')
  t.throws(() => resolveImage('docker.io/library/alpine', upstreams), /registry docker\.io is not served/)
})
