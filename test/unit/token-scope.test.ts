import t from 'tap'
import {
  requestRepositories,
  rewriteTokenForm,
  rewriteTokenRequest,
  scopeRepositories,
} from '../../src/auth/token-scope.js'

const strip = (name: string) => (name.startsWith('ghcr.io/') ? name.slice('ghcr.io/'.length) : `library/${name}`)

t.test('the repositories a token request is about', async (t) => {
  const table: Array<[string, string[]]> = [
    ['', []],
    ['service=registry.docker.io&scope=repository:library/alpine:pull', ['library/alpine']],
    ['scope=repository%3Aghcr.io%2Forg%2Fapp%3Apull%2Cpush&scope=repository:a:pull', ['ghcr.io/org/app', 'a']],
    ['scope=repository:localhost:5000/team/app:pull', ['localhost:5000/team/app']],
    ['scope=repository(plugin):x/y:pull', ['x/y']],
    ['scope=registry:catalog:*', []],
    ['scope=repository:a:pull+repository:b:push', ['a', 'b']],
    ['scope=nonsense', []],
    ['scope=%ZZ', []],
  ]
  for (const [query, expected] of table) t.same(scopeRepositories(query), expected, query)
})

t.test('scopes renamed for the upstream, service replaced, the rest as the client wrote it', async (t) => {
  const table: Array<[string, string | undefined, string]> = [
    [
      'account=alice&scope=repository:ghcr.io/org/app:pull&service=registry.docker.io',
      'ghcr.io',
      'account=alice&scope=repository%3Aorg%2Fapp%3Apull&service=ghcr.io',
    ],
    ['scope=repository:alpine:pull,push', undefined, 'scope=repository%3Alibrary%2Falpine%3Apull%2Cpush'],
    ['scope=registry:catalog:*&x=%ZZ', undefined, 'scope=registry%3Acatalog%3A*&x=%ZZ'],
    [
      'grant_type=password&scope=repository%3Aghcr.io%2Fa%3Apull+repository%3Ab%3Apull',
      undefined,
      'grant_type=password&scope=repository%3Aa%3Apull%20repository%3Alibrary%2Fb%3Apull',
    ],
  ]
  for (const [form, service, expected] of table) t.equal(rewriteTokenForm(form, strip, service), expected, form)
  t.same(
    new URLSearchParams(rewriteTokenForm('scope=repository:ghcr.io/org/app:pull', strip)).getAll('scope'),
    ['repository:org/app:pull'],
    'what the realm reads',
  )
})

t.test('a POSTed OAuth2 form is read and rewritten too; another body is left alone', async (t) => {
  const form = {
    method: 'POST' as const,
    query: '',
    contentType: 'application/x-www-form-urlencoded; charset=utf-8',
    body: Buffer.from('grant_type=password&username=a&password=p&scope=repository:ghcr.io/x:pull&service=s'),
  }
  t.same(requestRepositories(form), ['ghcr.io/x'])
  const rewritten = rewriteTokenRequest(form, strip, 'ghcr.io')
  t.equal(
    rewritten.body?.toString(),
    'grant_type=password&username=a&password=p&scope=repository%3Ax%3Apull&service=ghcr.io',
  )
  const json = { ...form, contentType: 'application/json', body: Buffer.from('{"scope":"repository:ghcr.io/x:pull"}') }
  t.same(requestRepositories(json), [])
  t.equal(rewriteTokenRequest(json, strip, 'ghcr.io').body, json.body)
  const get = { method: 'GET' as const, query: 'scope=repository:ghcr.io/x:pull', body: form.body }
  t.same(requestRepositories(get), ['ghcr.io/x'], 'a GET has no form')
})
