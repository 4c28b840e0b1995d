import t from 'tap'
import { isRegistryName, looksLikeRegistryHost, namespacesOf } from '../../src/oci/registry-host.js'

t.test("Docker's rule: a first component with a dot or a colon, or localhost, is a registry", async (t) => {
  const table: Array<[string, boolean]> = [
    ['ghcr.io', true],
    ['localhost', true],
    ['localhost:5000', true],
    ['10.0.0.1:5000', true],
    ['library', false],
    ['org', false],
    ['local-host', false],
  ]
  for (const [component, expected] of table) t.equal(looksLikeRegistryHost(component), expected, component)
})

t.test('a name an upstream may have', async (t) => {
  const table: Array<[string, boolean]> = [
    ['docker.io', true],
    ['dhe.example.com', true],
    ['registry.example:5000', true],
    ['localhost', true],
    ['127.0.0.1:5001', true],
    ['registry', false],
    ['Ghcr.io', false],
    ['ghcr.io/org', false],
    ['-bad.example', false],
    ['ghcr.io:', false],
    ['', false],
  ]
  for (const [name, expected] of table) t.equal(isRegistryName(name), expected, name)
})

t.test('the ns values of a request target, in lower case, empty ones left out', async (t) => {
  const table: Array<[string, string[]]> = [
    ['/v2/library/alpine/manifests/3.19', []],
    ['/v2/library/alpine/manifests/3.19?ns=docker.io', ['docker.io']],
    ['/v2/x/tags/list?n=1&ns=GHCR.io&last=a', ['ghcr.io']],
    ['/v2/x/tags/list?ns=a.io&ns=b.io', ['a.io', 'b.io']],
    ['/v2/x/tags/list?ns=', []],
    ['/v2/x/tags/list?ns=%ZZ', ['%zz']],
    ['/v2/x/tags/list?ns=localhost%3A5000', ['localhost:5000']],
  ]
  for (const [url, expected] of table) t.same(namespacesOf(url), expected, url)
})
