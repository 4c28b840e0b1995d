import t from 'tap'
import { originForm } from '../../src/server/origin-form.js'

t.test('an absolute-form target becomes its path and query; anything else stays', async (t) => {
  const table: Array<[string | undefined, string]> = [
    ['/v2/library/alpine/manifests/1', '/v2/library/alpine/manifests/1'],
    ['/v2/?ns=docker.io', '/v2/?ns=docker.io'],
    ['http://mirror:5000/v2/library/alpine/manifests/1?ns=x', '/v2/library/alpine/manifests/1?ns=x'],
    ['https://example.invalid/v2/', '/v2/'],
    ['http://h/v2/library/x/../alpine/tags/list', '/v2/library/alpine/tags/list'],
    ['http://h/v2/sha256%3Aabc', '/v2/sha256%3Aabc'],
    ['http://h', '/'],
    ['*', '*'],
    ['ftp://h/v2/', 'ftp://h/v2/'],
    ['http://[bad/v2/', 'http://[bad/v2/'],
    ['example.invalid:443', 'example.invalid:443'],
    [undefined, '/'],
  ]
  for (const [url, expected] of table) t.equal(originForm({ url }), expected, String(url))
})
