import t from 'tap'
import {
  ACCEPT_ALL_MANIFESTS,
  acceptHeaderFor,
  acceptKey,
  acceptKeysServing,
  baseMediaType,
  mediaTypes,
} from '../../src/oci/media-types.js'

// Accept headers as the real clients send them.
const dockerDaemon = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]
const containerd =
  'application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, */*'
const oldClient = 'application/vnd.docker.distribution.manifest.v2+json'

t.test('clients that accept the same manifest types share a key, whatever the order', async (t) => {
  const reordered = [...dockerDaemon].reverse().join(',')
  t.equal(acceptKey(dockerDaemon), acceptKey(reordered))
  t.equal(acceptKey(dockerDaemon.join(', ')), acceptKey(dockerDaemon), 'one header or several')
})

t.test('a client that accepts lists and one that does not get different keys', async (t) => {
  t.not(acceptKey(containerd), acceptKey(oldClient))
  t.not(acceptKey(mediaTypes.ociManifest), acceptKey(`${mediaTypes.ociManifest}, ${mediaTypes.ociIndex}`))
})

t.test('wildcards, parameters, q=0 and unknown types do not change the key', async (t) => {
  t.equal(acceptKey(`${oldClient}, */*`), acceptKey(oldClient))
  t.equal(acceptKey(`${oldClient}; q=0.9, text/html`), acceptKey(oldClient))
  t.equal(acceptKey(`${oldClient}, ${mediaTypes.dockerList};q=0`), acceptKey(oldClient), 'q=0 means not accepted')
  t.equal(acceptKey('APPLICATION/VND.DOCKER.DISTRIBUTION.MANIFEST.V2+JSON'), acceptKey(oldClient))
  t.equal(acceptKey(undefined), acceptKey('*/*'))
  t.equal(acceptKey(undefined), '0')
})

t.test('remembered keys stay right past the bound on headers remembered, and for long headers', async (t) => {
  const first = acceptKey(containerd)
  // Distinct headers, more than are kept: each still gets its own answer.
  for (let i = 0; i < 600; i++) {
    const withList = i % 2 === 0
    const header = `${oldClient}, text/x-${i}${withList ? `, ${mediaTypes.dockerList}` : ''}`
    t.equal(acceptKey(header), acceptKey(withList ? `${oldClient}, ${mediaTypes.dockerList}` : oldClient))
  }
  t.equal(acceptKey(containerd), first, 'asked again after the table was cleared')
  const long = `${oldClient}, ${'text/x-padding, '.repeat(200)}${mediaTypes.ociIndex}`
  t.equal(acceptKey(long), acceptKey(`${oldClient}, ${mediaTypes.ociIndex}`))
  t.equal(acceptKey(long), acceptKey(long), 'a long header is parsed each time, the same way')
})

t.test('the upstream Accept header is rebuilt from the key alone', async (t) => {
  const header = acceptHeaderFor(acceptKey(containerd))
  t.ok(header)
  t.equal(acceptKey(header), acceptKey(containerd), 'round trip')
  t.notMatch(header!, /\*\/\*/)
  t.equal(acceptHeaderFor('0'), undefined, 'no known type: no Accept header')
  t.equal(acceptKey(ACCEPT_ALL_MANIFESTS), acceptKey(Object.values(mediaTypes).join(',')))
})

t.test('base media type', async (t) => {
  t.equal(baseMediaType('application/json; charset=utf-8'), 'application/json')
  t.equal(baseMediaType(' Application/Vnd.OCI.Image.Index.v1+json '), 'application/vnd.oci.image.index.v1+json')
  t.equal(baseMediaType(undefined), undefined)
  t.equal(baseMediaType(''), undefined)
})

t.test('a restored tag serves every client that accepts its manifest type, and no other', async (t) => {
  const index = acceptKeysServing(mediaTypes.ociIndex)
  t.equal(index.length, 64, 'half of the key space: the sets holding the type')
  t.equal(new Set(index).size, 64)
  for (const client of [dockerDaemon, containerd, ACCEPT_ALL_MANIFESTS, mediaTypes.ociIndex]) {
    t.ok(index.includes(acceptKey(client)), 'a client accepting OCI indexes finds it')
  }
  t.notOk(index.includes(acceptKey(oldClient)), 'one that does not accept them is left to the upstream')
  const manifest = acceptKeysServing(mediaTypes.dockerManifest)
  t.ok(manifest.includes(acceptKey(oldClient)) && manifest.includes(acceptKey(dockerDaemon)))
  t.same(acceptKeysServing('application/json'), [], 'not a negotiated type')
})
