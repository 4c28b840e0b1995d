export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociArtifact: 'application/vnd.oci.artifact.manifest.v1+json',
} as const

/**
 * The manifest types an upstream chooses between, in a fixed order. What a client
 * accepts of these, and nothing else, decides which manifest a tag resolves to.
 */
const NEGOTIATED: readonly string[] = [
  mediaTypes.dockerList,
  mediaTypes.dockerManifest,
  mediaTypes.dockerSchema1,
  mediaTypes.dockerSchema1Signed,
  mediaTypes.ociArtifact,
  mediaTypes.ociIndex,
  mediaTypes.ociManifest,
]

/** Every manifest type: what the mirror accepts when it fetches a manifest by digest. */
export const ACCEPT_ALL_MANIFESTS = NEGOTIATED.join(', ')

function acceptedTypes(accept: string | string[] | undefined): Set<string> {
  const values = Array.isArray(accept) ? accept : accept === undefined ? [] : [accept]
  const accepted = new Set<string>()
  for (const range of values.flatMap((v) => v.split(','))) {
    const [type = '', ...params] = range.split(';').map((p) => p.trim())
    const q = params.find((p) => /^q\s*=/i.test(p))
    if (q !== undefined && Number(q.slice(q.indexOf('=') + 1)) === 0) continue
    accepted.add(type.toLowerCase())
  }
  return accepted
}

/**
 * A canonical key for "what this client accepts", so that a cached tag mapping is only
 * reused for clients that would get the same answer from the upstream: a client that
 * accepts manifest lists gets the list, one that does not gets a platform manifest.
 * The key is the sorted set of negotiated manifest types, as a bit mask in hex.
 */
export function acceptKey(accept: string | string[] | undefined): string {
  if (typeof accept !== 'string' || accept.length > MAX_REMEMBERED_ACCEPT) return computeAcceptKey(accept)
  let key = acceptKeys.get(accept)
  if (key === undefined) {
    // Clients send a handful of distinct headers; anything past the bound is a scan.
    if (acceptKeys.size >= MAX_ACCEPT_KEYS) acceptKeys.clear()
    key = computeAcceptKey(accept)
    acceptKeys.set(accept, key)
  }
  return key
}

/**
 * Keys of the Accept headers seen, by header: every manifest request asks, and parsing
 * the header was a tenth of a cached HEAD's time. Pure, so one table serves the process.
 */
const acceptKeys = new Map<string, string>()
const MAX_ACCEPT_KEYS = 256
const MAX_REMEMBERED_ACCEPT = 1024

function computeAcceptKey(accept: string | string[] | undefined): string {
  const accepted = acceptedTypes(accept)
  let mask = 0
  NEGOTIATED.forEach((type, bit) => {
    if (accepted.has(type)) mask |= 1 << bit
  })
  return mask.toString(16)
}

/**
 * Every accept key of a client the upstream would answer with a manifest of this type
 * for its tag: those whose set of accepted types holds it. Restoring a tag mapping under
 * all of them (an import, a prefetch) lets any client resolve the tag without the
 * upstream. Clients that do not accept the type would be sent another manifest (a
 * platform's, for an index), which only the upstream can choose.
 */
export function acceptKeysServing(mediaType: string): string[] {
  const bit = NEGOTIATED.indexOf(mediaType)
  if (bit < 0) return []
  const keys: string[] = []
  for (let mask = 1; mask < 1 << NEGOTIATED.length; mask++) {
    if ((mask & (1 << bit)) !== 0) keys.push(mask.toString(16))
  }
  return keys
}

/** The Accept header the mirror sends upstream for a key: the same for every client with it. */
export function acceptHeaderFor(key: string): string | undefined {
  const mask = Number.parseInt(key, 16)
  const types = NEGOTIATED.filter((_, bit) => (mask & (1 << bit)) !== 0)
  return types.length === 0 ? undefined : types.join(', ')
}

/** `application/json; charset=utf-8` → `application/json`. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  const base = contentType?.split(';')[0]?.trim().toLowerCase()
  return base === undefined || base === '' ? undefined : base
}

/** Docker's first manifest format, signed or not (superseded in 2016, still served by older registries). */
export function isSchema1(mediaType: string): boolean {
  return mediaType === mediaTypes.dockerSchema1 || mediaType === mediaTypes.dockerSchema1Signed
}
