// The image's HEALTHCHECK: GET /healthz on the address the mirror listens on (slim images
// have no curl). An unspecified host (0.0.0.0, ::) is reached on loopback.
const listen = process.env.MIRROR_LISTEN ?? '0.0.0.0:5000'
const colon = listen.lastIndexOf(':')
const host = listen.slice(0, colon).replace(/^\[|\]$/g, '')
const port = listen.slice(colon + 1)
const target = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
const url = `http://${target.includes(':') ? `[${target}]` : target}:${port}/healthz`

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) })
  process.exit(response.ok ? 0 : 1)
} catch {
  process.exit(1)
}
