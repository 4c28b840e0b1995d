import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Agent, type Dispatcher } from 'undici'
import { followRedirects } from '../../src/upstream/redirect-interceptor.js'
import { RedirectRefusedError } from '../../src/upstream/redirect-policy.js'

interface Seen {
  server: string
  method: string
  path: string
  authorization: string | undefined
  cookie: string | undefined
  contentType: string | undefined
  body: string
}

/** A server that notes every request it gets, body included, then lets `handler` answer. */
async function serve(
  t: Test,
  name: string,
  seen: Seen[],
  handler: (req: IncomingMessage, res: ServerResponse) => void,
) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const { authorization, cookie } = req.headers
      const body = Buffer.concat(chunks).toString()
      seen.push({
        server: name,
        method: req.method!,
        path: req.url!,
        authorization,
        cookie,
        contentType: req.headers['content-type'],
        body,
      })
      handler(req, res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function client(t: Test, maxRedirects = 5): Dispatcher {
  const agent = new Agent()
  t.teardown(() => agent.close())
  return agent.compose(followRedirects(maxRedirects))
}

async function request(dispatcher: Dispatcher, url: string, options: Partial<Dispatcher.RequestOptions> = {}) {
  const { origin, pathname, search } = new URL(url)
  const response = await dispatcher.request({ origin, path: pathname + search, method: 'GET', ...options })
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() }
}

const secrets = { authorization: 'Bearer secret', cookie: 'session=1', 'proxy-authorization': 'Basic cA==' }

t.test('redirects are followed; credentials go only to the same origin', async (t) => {
  const seen: Seen[] = []
  const cdn = await serve(t, 'cdn', seen, (_req, res) => res.end('blob'))
  const origin = await serve(t, 'origin', seen, (req, res) => {
    if (req.url === '/start') res.writeHead(307, { location: '/moved' }).end()
    else res.writeHead(302, { location: `${cdn}/signed?x=1` }).end('see the cdn')
  })
  const response = await request(client(t), `${origin}/start`, { headers: secrets })
  t.same(response, { status: 200, headers: response.headers, body: 'blob' })
  t.match(seen, [
    { server: 'origin', path: '/start', authorization: 'Bearer secret', cookie: 'session=1' },
    { server: 'origin', path: '/moved', authorization: 'Bearer secret', cookie: 'session=1' },
    { server: 'cdn', path: '/signed?x=1', authorization: undefined, cookie: undefined },
  ])
})

t.test('credentials given as a flat list are stripped too', async (t) => {
  const seen: Seen[] = []
  const other = await serve(t, 'other', seen, (_req, res) => res.end('ok'))
  const origin = await serve(t, 'origin', seen, (_req, res) => res.writeHead(301, { location: `${other}/x` }).end())
  await request(client(t), `${origin}/`, { headers: ['Authorization', 'Bearer secret', 'accept', '*/*'] })
  t.match(seen, [{ authorization: 'Bearer secret' }, { server: 'other', authorization: undefined }])
})

t.test('a 303 after a POST asks with GET and no body; a 307 sends the body again', async (t) => {
  const seen: Seen[] = []
  const origin = await serve(t, 'origin', seen, (req, res) => {
    if (req.url === '/see-other') res.writeHead(303, { location: '/result' }).end()
    else if (req.url === '/temporary') res.writeHead(307, { location: '/result' }).end()
    else res.end(req.method)
  })
  const post = { method: 'POST' as const, body: 'grant_type=password', headers: { 'content-type': 'text/plain' } }
  t.equal((await request(client(t), `${origin}/see-other`, post)).body, 'GET')
  t.equal((await request(client(t), `${origin}/temporary`, post)).body, 'POST')
  t.match(seen, [
    { path: '/see-other', method: 'POST', body: 'grant_type=password' },
    { path: '/result', method: 'GET', body: '', contentType: undefined },
    { path: '/temporary', method: 'POST', body: 'grant_type=password' },
    { path: '/result', method: 'POST', body: 'grant_type=password', contentType: 'text/plain' },
  ])
})

t.test('a redirect not followed reaches the caller with its body', async (t) => {
  const seen: Seen[] = []
  const origin = await serve(t, 'origin', seen, (req, res) => {
    if (req.url === '/nowhere') res.writeHead(302).end('no location')
    else res.writeHead(302, { location: `${req.url!}/further` }).end('too far')
  })
  t.match(await request(client(t), `${origin}/nowhere`), { status: 302, body: 'no location' })
  t.match(await request(client(t, 2), `${origin}/a`), { status: 302, body: 'too far' }, 'past the limit')
  t.equal(seen.filter((s) => s.path.startsWith('/a')).length, 3, 'the first request and two redirects')
})

t.test('a loop or a Location that is not http(s) fails the request', async (t) => {
  const seen: Seen[] = []
  const origin = await serve(t, 'origin', seen, (req, res) => {
    res.writeHead(302, { location: req.url === '/ftp' ? 'ftp://files.example/x' : '/loop' }).end()
  })
  await t.rejects(request(client(t), `${origin}/loop`), RedirectRefusedError)
  await t.rejects(request(client(t), `${origin}/ftp`), RedirectRefusedError)
  t.equal(seen.length, 2, 'each asked once')
})
