import t from 'tap'
import { nextHop, type Hop, type RedirectChain, type RedirectStep } from '../../src/upstream/redirect-policy.js'

const START = new URL('https://registry.example/v2/library/alpine/blobs/sha256:abc?x=1')
const CREDENTIALS = { Authorization: 'Bearer secret', cookie: 'session=1', 'proxy-authorization': 'Basic cA==' }

function get(headers: Record<string, string> = {}, url = START): Hop {
  return { url, method: 'GET', headers }
}

function ask(hop: Hop, status: number, location: string | string[] | undefined, chain: Partial<RedirectChain> = {}) {
  return nextHop(hop, { status, location }, { visited: [hop.url], maxRedirects: 5, ...chain })
}

function followed(step: RedirectStep): Hop & { dropBody: boolean } {
  if (step.kind !== 'follow') throw new Error(`expected to follow, got ${JSON.stringify(step)}`)
  return { ...step.hop, dropBody: step.dropBody }
}

t.test('what is delivered as it is', async (t) => {
  const cases: Array<[string, number, string | undefined, Partial<RedirectChain>, string]> = [
    ['a success', 200, undefined, {}, 'not-redirect'],
    ['a success that names a Location', 201, '/elsewhere', {}, 'not-redirect'],
    ['an error', 404, undefined, {}, 'not-redirect'],
    ['Not Modified is no redirect', 304, '/elsewhere', {}, 'not-redirect'],
    ['a redirect without Location', 302, undefined, {}, 'no-location'],
    ['a redirect with an empty Location', 307, '', {}, 'no-location'],
    ['a redirect past the limit', 307, '/next', { visited: [START, START, START], maxRedirects: 2 }, 'limit'],
    ['any redirect when none may be followed', 302, '/next', { maxRedirects: 0 }, 'limit'],
  ]
  for (const [name, status, location, chain, why] of cases) {
    t.same(ask(get(), status, location, chain), { kind: 'deliver', why }, name)
  }
})

t.test('the last redirect within the limit is followed', async (t) => {
  const step = ask(get(), 307, '/next', { visited: [START, new URL('https://registry.example/a')], maxRedirects: 2 })
  t.equal(step.kind, 'follow')
})

t.test('every redirect status is followed to its Location, resolved against the URL that answered', async (t) => {
  for (const status of [300, 301, 302, 303, 307, 308]) {
    t.equal(
      followed(ask(get(), status, '../manifests/latest')).url.href,
      'https://registry.example/v2/library/alpine/manifests/latest',
      `${status}`,
    )
  }
  const cases: Array<[string, string, string]> = [
    ['absolute', 'https://cdn.example/blob?sig=1', 'https://cdn.example/blob?sig=1'],
    ['protocol-relative', '//cdn.example/blob', 'https://cdn.example/blob'],
    ['query only', '?x=2', 'https://registry.example/v2/library/alpine/blobs/sha256:abc?x=2'],
    ['a fragment is never sent', '/moved#part', 'https://registry.example/moved'],
  ]
  for (const [name, location, expected] of cases) t.equal(followed(ask(get(), 302, location)).url.href, expected, name)
})

t.test('credentials stay with their origin; other headers go on', async (t) => {
  const headers = { ...CREDENTIALS, accept: 'application/json', range: 'bytes=0-9' }
  const same = followed(ask(get(headers), 307, '/v2/moved'))
  t.same(same.headers, headers, 'the same origin gets everything')
  const elsewhere: Array<[string, string]> = [
    ['another host', 'https://cdn.example/blob'],
    ['another port', 'https://registry.example:8443/blob'],
    ['another scheme', 'http://registry.example/blob'],
  ]
  for (const [name, location] of elsewhere) {
    t.same(followed(ask(get(headers), 307, location)).headers, { accept: 'application/json', range: 'bytes=0-9' }, name)
  }
})

t.test('Host never goes on: the next hop names its own', async (t) => {
  t.same(followed(ask(get({ Host: 'registry.example', accept: '*/*' }), 302, '/moved')).headers, { accept: '*/*' })
})

t.test('the method and body a redirect is followed with', async (t) => {
  const post = (status: number, bodyReplayable = true) =>
    nextHop(
      { url: START, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: '*/*' } },
      { status, location: '/token' },
      { visited: [START], maxRedirects: 5, bodyReplayable },
    )
  const form = { 'content-type': 'application/x-www-form-urlencoded', accept: '*/*' }
  const cases: Array<[string, RedirectStep, string, boolean, Record<string, string>]> = [
    ['303 asks with GET, without the body or its Content-* headers', post(303), 'GET', true, { accept: '*/*' }],
    ['301 after a POST asks with GET', post(301), 'GET', true, form],
    ['302 after a POST asks with GET', post(302), 'GET', true, form],
    ['307 keeps the method and body', post(307), 'POST', false, form],
    ['308 keeps the method and body', post(308), 'POST', false, form],
    ['303 drops a body it cannot send again anyway', post(303, false), 'GET', true, { accept: '*/*' }],
  ]
  for (const [name, step, method, dropBody, headers] of cases) {
    const hop = followed(step)
    t.same({ method: hop.method, dropBody: hop.dropBody, headers: hop.headers }, { method, dropBody, headers }, name)
  }
  t.same(post(307, false), { kind: 'deliver', why: 'body-spent' }, 'a streamed body cannot be sent again')
  t.equal(followed(ask({ url: START, method: 'HEAD', headers: {} }, 303, '/x')).method, 'HEAD', '303 keeps HEAD')
  t.equal(followed(ask(get(), 303, '/x')).dropBody, true, '303 never sends a body on')
})

t.test('what is refused', async (t) => {
  const visited = [new URL('https://registry.example/v2/a'), START]
  const cases: Array<[string, string | string[], string, Partial<RedirectChain>]> = [
    ['ftp', 'ftp://files.example/blob', 'scheme', {}],
    ['file', 'file:///etc/passwd', 'scheme', {}],
    ['data', 'data:text/plain,hi', 'scheme', {}],
    ['javascript', 'javascript:alert(1)', 'scheme', {}],
    ['an invalid URL', 'http://[::1', 'location', {}],
    ['several Location headers', ['/a', '/b'], 'location', {}],
    ['back to where it started', 'https://registry.example/v2/a', 'loop', { visited }],
    ['to itself', START.href, 'loop', {}],
    ['to itself with another fragment', `${START.href}#again`, 'loop', {}],
  ]
  for (const [name, location, why, chain] of cases) {
    t.match(ask(get(), 302, location, chain), { kind: 'refuse', why }, name)
  }
})

t.test('the same path on another origin is no loop', async (t) => {
  t.equal(ask(get(), 302, 'https://mirror.example/v2/library/alpine/blobs/sha256:abc?x=1').kind, 'follow')
})
