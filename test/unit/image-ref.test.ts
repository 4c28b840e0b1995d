import t from 'tap'
import { upstreamsOf } from '../../src/config/upstreams.js'
import { OperatorError } from '../../src/errors.js'
import { imageName, resolveImage, type ImageUpstream } from '../../src/oci/image-ref.js'
import { testConfig } from '../helpers/mirror.js'

const hub: ImageUpstream = { name: 'docker.io', host: 'registry-1.docker.io', defaultNamespace: 'library' }
const ghcr: ImageUpstream = { name: 'ghcr.io', host: 'ghcr.io', defaultNamespace: '' }
const local: ImageUpstream = { name: 'localhost:5000', host: 'localhost:5000', defaultNamespace: '' }
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

t.test('today the one upstream is named docker.io for Docker Hub, else host[:port]', async (t) => {
  const [dockerHub] = upstreamsOf(testConfig('https://registry-1.docker.io', '/tmp/x'))
  t.same(dockerHub, { name: 'docker.io', host: 'registry-1.docker.io', defaultNamespace: 'library' })
  const [other] = upstreamsOf(testConfig('http://127.0.0.1:5000', '/tmp/x'))
  t.same(other, { name: '127.0.0.1:5000', host: '127.0.0.1:5000', defaultNamespace: '' })
  t.equal(resolveImage('library/small:1', [other!]).repo, 'library/small')
  t.equal(resolveImage('127.0.0.1:5000/library/small:1', [other!]).tag, '1')
})
