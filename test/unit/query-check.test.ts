import t from 'tap'
import { undecodableParameter } from '../../src/server/query-check.js'

t.test('finds the first query parameter that does not decode', async (t) => {
  const table: Array<[string, ReturnType<typeof undecodableParameter>]> = [
    ['', undefined],
    ['n=10&last=abc', undefined],
    ['last=%41%2F%3a+x&ns=docker.io', undefined],
    ['flag&=&&x=', undefined],
    ['scope=repository%3Alibrary%2Falpine%3Apull', undefined],
    ['last=%ZZ', { name: 'last', value: '%ZZ' }],
    ['n=0%', { name: 'n', value: '0%' }],
    ['ok=1&digest=sha256%3A%G0', { name: 'digest', value: 'sha256%3A%G0' }],
    ['%6E=%zz', { name: 'n', value: '%zz' }],
    ['%ZZ=1', { name: '%ZZ=1', value: '1' }],
    ['a=%C0%AF', { name: 'a', value: '%C0%AF' }],
    ['a=%ED%A0%80', { name: 'a', value: '%ED%A0%80' }],
    ['a=%', { name: 'a', value: '%' }],
  ]
  for (const [query, expected] of table) t.same(undecodableParameter(query), expected, JSON.stringify(query))
})
