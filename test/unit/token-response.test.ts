import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Agent } from 'undici'
import { TokenService } from '../../src/auth/token-service.js'
import { UpstreamContentError } from '../../src/errors.js'

// A realm on loopback that answers each request with the next body of the table.
let body = ''
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body))
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`
const agent = new Agent()
t.teardown(async () => {
  await agent.close()
  server.close()
})

const cases: Array<[string, string, string | RegExp]> = [
  ["Docker's token", '{"token":"a","expires_in":300}', 'a'],
  ["OAuth2's access_token", '{"access_token":"b"}', 'b'],
  ['token before access_token', '{"token":"c","access_token":"d"}', 'c'],
  ['an expires_in of the wrong type is no expires_in', '{"token":"e","expires_in":"300"}', 'e'],
  ['a token of the wrong type is no token', '{"token":5,"access_token":"f"}', 'f'],
  ['not JSON', 'token=x', /answered without JSON/],
  ['JSON null', 'null', /answered without a token/],
  ['an array', '["x"]', /answered without a token/],
  ['no token at all', '{"expires_in":300}', /answered without a token/],
  ['an empty token', '{"token":""}', /answered without a token/],
]

t.test("the realm's answer is checked, never taken on trust", async (t) => {
  for (const [name, answer, expected] of cases) {
    body = answer
    // A new service each time: tokens are cached.
    const tokens = new TokenService(agent, 'test', 5000)
    const got = tokens.token({ realm, scopes: [`repository:${name}:pull`] })
    if (typeof expected === 'string') t.equal(await got, expected, name)
    else await t.rejects(got, { constructor: UpstreamContentError, message: expected }, name)
  }
})
