import t from 'tap'
import { parseManifest, type Descriptor } from '../../src/oci/manifest.js'
import { mediaTypes } from '../../src/oci/media-types.js'
import { parsePlatforms, platformMatches, selectPlatforms } from '../../src/oci/platform.js'

const d = (n: number, platform?: Descriptor['platform']): Descriptor => ({
  mediaType: mediaTypes.ociManifest,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 100 + n,
  ...(platform === undefined ? {} : { platform }),
})
const amd64 = d(1, { os: 'linux', architecture: 'amd64' })
const arm64 = d(2, { os: 'linux', architecture: 'arm64', variant: 'v8' })
const armv7 = d(3, { os: 'linux', architecture: 'arm', variant: 'v7' })
const windows = d(4, { os: 'windows', architecture: 'amd64' })
const attestation = d(5, { os: 'unknown', architecture: 'unknown' })
const index = [amd64, arm64, armv7, windows, attestation]

t.test('--platform as users write it', async (t) => {
  t.same(parsePlatforms('linux/amd64'), [{ os: 'linux', architecture: 'amd64' }])
  t.same(parsePlatforms(' linux/amd64 , linux/arm64/v8,'), [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ])
  t.same(parsePlatforms('Linux/x86_64'), [{ os: 'linux', architecture: 'amd64' }], 'aliases and case')
  t.same(parsePlatforms('linux/aarch64'), [{ os: 'linux', architecture: 'arm64' }])
  for (const bad of ['linux', 'linux/', '/amd64', 'linux/arm/v7/x']) {
    t.throws(() => parsePlatforms(bad), /invalid platform/, bad)
  }
})

t.test('platform selection', async (t) => {
  const table: Array<[string, string | undefined, Descriptor[], string[]]> = [
    ['no platform named: every entry, attestations too', undefined, index, []],
    ['one platform', 'linux/amd64', [amd64], []],
    ['arm64 means v8', 'linux/arm64', [arm64], []],
    ['a variant must match', 'linux/arm/v6', [], ['linux/arm/v6']],
    ['no variant asked: any', 'linux/arm', [armv7], []],
    ['several', 'linux/amd64,windows/amd64', [amd64, windows], []],
    ['one missing', 'linux/amd64,linux/s390x', [amd64], ['linux/s390x']],
  ]
  for (const [what, wanted, selected, missing] of table) {
    const choice = selectPlatforms(index, wanted === undefined ? undefined : parsePlatforms(wanted))
    t.same(choice.selected, selected, what)
    t.same(
      choice.missing.map((p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/')),
      missing,
      `${what}: missing`,
    )
  }
  t.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }))
})

t.test('manifests parse by shape and media type, anything else does not', async (t) => {
  const body = (v: unknown) => Buffer.from(JSON.stringify(v))
  const image = { schemaVersion: 2, mediaType: mediaTypes.dockerManifest, config: d(7), layers: [d(8)] }
  t.match(parseManifest(body(image)), { kind: 'image', mediaType: mediaTypes.dockerManifest, layers: [d(8)] })
  const { mediaType: _, ...untyped } = image
  t.match(parseManifest(body(untyped), mediaTypes.ociManifest), { kind: 'image', mediaType: mediaTypes.ociManifest })
  t.match(parseManifest(body({ schemaVersion: 2, manifests: index })), {
    kind: 'index',
    mediaType: mediaTypes.ociIndex,
  })
  t.match(parseManifest(body({ schemaVersion: 2, mediaType: mediaTypes.dockerList, manifests: [] })), {
    kind: 'index',
    manifests: [],
  })
  const notManifests = [
    'not json',
    JSON.stringify({ schemaVersion: 1, fsLayers: [] }),
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: {} }),
    JSON.stringify({ ...image, layers: [{ digest: 'sha256:short', size: 1 }] }),
    JSON.stringify({ ...image, config: { ...d(7), size: -1 } }),
  ]
  for (const text of notManifests) t.equal(parseManifest(Buffer.from(text)), undefined, text.slice(0, 40))
})
