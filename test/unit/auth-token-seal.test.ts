import t from 'tap'
import {
  basicAuthorization,
  classifyAuthorization,
  issueMirrorLocalToken,
  tokenRequestCredentials,
} from '../../src/auth/client-credentials.js'
import { SEALED_PREFIX, TokenSeal } from '../../src/auth/token-seal.js'

const ALICE = basicAuthorization('alice', 'alice-secret')
const SECRET = 'a-secret-of-at-least-sixteen-characters'
const MINUTE = 60_000

t.test('a sealed token opens for its upstream, as the credentials it holds', async (t) => {
  const seal = TokenSeal.fromSecret(undefined)
  const token = seal.seal('registry.basic.test', ALICE, MINUTE)
  t.ok(token.startsWith(SEALED_PREFIX))
  t.notMatch(token, /alice/, 'the credentials are not readable in the token')
  t.notMatch(token, new RegExp(ALICE.slice('Basic '.length)), 'not even as their base64')
  t.equal(seal.open(token, 'registry.basic.test'), ALICE)
  t.not(seal.seal('registry.basic.test', ALICE, MINUTE), token, 'a fresh nonce each time')
})

t.test('a token for another upstream, expired, altered or foreign opens for none', async (t) => {
  let now = 1_000_000
  const seal = TokenSeal.fromSecret(SECRET, () => now)
  const token = seal.seal('registry.basic.test', ALICE, MINUTE)
  t.equal(seal.open(token, 'docker.io'), undefined, 'another upstream')
  t.equal(seal.open(token, 'registry.basic.tes'), undefined, 'a name one letter short')

  const body = Buffer.from(token.slice(SEALED_PREFIX.length), 'base64url')
  for (const at of [0, 5, 12, 20, body.length - 16, body.length - 1]) {
    const altered = Buffer.from(body)
    altered[at] = altered[at]! ^ 0x01
    t.equal(seal.open(SEALED_PREFIX + altered.toString('base64url'), 'registry.basic.test'), undefined, `byte ${at}`)
  }
  const cases: Array<[string, string]> = [
    ['truncated', token.slice(0, -4)],
    ['nonce and tag only', SEALED_PREFIX + body.subarray(0, 28).toString('base64url')],
    ['empty', SEALED_PREFIX],
    ['not sealed', issueMirrorLocalToken()],
    ['not base64', `${SEALED_PREFIX}!!!!`],
  ]
  for (const [what, value] of cases) t.equal(seal.open(value, 'registry.basic.test'), undefined, what)

  now += MINUTE - 1
  t.equal(seal.open(token, 'registry.basic.test'), ALICE, 'alive until its lifetime is over')
  now += 1
  t.equal(seal.open(token, 'registry.basic.test'), undefined, 'expired')
})

t.test('the key: one secret gives one key, another secret or none another', async (t) => {
  const one = TokenSeal.fromSecret(SECRET)
  const replica = TokenSeal.fromSecret(SECRET)
  const token = one.seal('registry.basic.test', ALICE, MINUTE)
  t.equal(replica.open(token, 'registry.basic.test'), ALICE, 'replicas with one secret read each other')
  t.equal(one.open(replica.seal('registry.basic.test', ALICE, MINUTE), 'registry.basic.test'), ALICE)
  t.equal(TokenSeal.fromSecret(`${SECRET}!`).open(token, 'registry.basic.test'), undefined, 'another secret')
  t.equal(TokenSeal.fromSecret(undefined).open(token, 'registry.basic.test'), undefined, 'a random key')
  const random = TokenSeal.fromSecret(undefined)
  t.equal(TokenSeal.fromSecret(undefined).open(random.seal('x.test', ALICE, MINUTE), 'x.test'), undefined)
})

t.test('classifying: a sealed token is its credentials for its upstream, else anonymous', async (t) => {
  const seal = TokenSeal.fromSecret(undefined)
  const token = seal.seal('registry.basic.test', ALICE, MINUTE)
  const forBasic = (value: string) => seal.open(value, 'registry.basic.test')
  const forHub = (value: string) => seal.open(value, 'docker.io')
  t.same(classifyAuthorization(`Bearer ${token}`, forBasic), { kind: 'forward', authorization: ALICE })
  t.same(classifyAuthorization(`bearer  ${token}`, forBasic), { kind: 'forward', authorization: ALICE })
  t.same(classifyAuthorization(`Bearer ${token}`, forHub), { kind: 'anonymous' }, 'routed elsewhere')
  t.same(classifyAuthorization(`Bearer ${token}`), { kind: 'anonymous' }, 'routed nowhere')
  t.same(classifyAuthorization(`Bearer ${token}x`, forBasic), { kind: 'anonymous' }, 'altered')
  t.same(classifyAuthorization(`Basic ${token}`, forBasic), { kind: 'forward', authorization: `Basic ${token}` })
  t.same(classifyAuthorization('Bearer eyJ.x.y', forBasic), { kind: 'forward', authorization: 'Bearer eyJ.x.y' })
})

t.test("a token request's credentials, as Basic auth takes them", async (t) => {
  const form = (text: string) => Buffer.from(text)
  const cases: Array<[string, string | undefined, Buffer | undefined, ReturnType<typeof tokenRequestCredentials>]> = [
    ['nothing', undefined, undefined, { kind: 'none' }],
    ['an empty header', ' ', undefined, { kind: 'none' }],
    ['a Basic header', ALICE, undefined, { kind: 'basic', authorization: ALICE }],
    ['lower case', `basic ${ALICE.slice(6)}`, undefined, { kind: 'basic', authorization: ALICE }],
    ['a Bearer header', 'Bearer abc', undefined, { kind: 'other' }],
    ['Basic without credentials', 'Basic', undefined, { kind: 'other' }],
    [
      'a password form',
      undefined,
      form('grant_type=password&username=alice&password=alice-secret&scope=repository%3Ax%3Apull'),
      { kind: 'basic', authorization: ALICE },
    ],
    ['a refresh token', undefined, form('grant_type=refresh_token&refresh_token=r'), { kind: 'other' }],
    ['a password grant without a username', undefined, form('grant_type=password&password=p'), { kind: 'other' }],
    ['an anonymous form', undefined, form('scope=repository%3Ax%3Apull&service=s'), { kind: 'none' }],
  ]
  for (const [what, header, body, expected] of cases) t.same(tokenRequestCredentials(header, body), expected, what)
})
