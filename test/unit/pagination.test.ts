import t from 'tap'
import type { MirrorError } from '../../src/errors.js'
import { nextLink, paginate, parsePageSize } from '../../src/oci/pagination.js'

const tags = ['1.0', '1.1', '2.0', 'latest', 'stable']

t.test('paging a sorted tag list', async (t) => {
  t.same(paginate(tags, undefined, undefined), { items: tags, next: undefined })
  t.same(paginate(tags, 2, undefined), { items: ['1.0', '1.1'], next: '1.1' })
  t.same(paginate(tags, 2, '1.1'), { items: ['2.0', 'latest'], next: 'latest' })
  t.same(paginate(tags, 2, 'latest'), { items: ['stable'], next: undefined })
  t.same(paginate(tags, 5, undefined), { items: tags, next: undefined }, 'exactly n left: no next page')
  t.same(paginate(tags, undefined, '1.05'), { items: ['1.1', '2.0', 'latest', 'stable'], next: undefined })
  t.same(paginate(tags, 0, undefined), { items: [], next: undefined })
  t.same(paginate(tags, 3, 'zzz'), { items: [], next: undefined })
})

t.test('n must be a whole number', async (t) => {
  t.equal(parsePageSize(undefined), undefined)
  t.equal(parsePageSize(''), undefined)
  t.equal(parsePageSize('50'), 50)
  for (const bad of ['-1', '1.5', 'ten', '1e3', '9999999999']) {
    const error = t.throws(() => parsePageSize(bad)) as MirrorError
    t.equal(error.code, 'PAGINATION_NUMBER_INVALID', bad)
    t.equal(error.status, 400)
  }
})

t.test('Link rel=next as registries send it', async (t) => {
  t.equal(
    nextLink('</v2/library/node/tags/list?last=10&n=100>; rel="next"'),
    '/v2/library/node/tags/list?last=10&n=100',
  )
  t.equal(
    nextLink('<https://r.example/v2/x/tags/list?n=1&last=a>; rel=next'),
    'https://r.example/v2/x/tags/list?n=1&last=a',
  )
  t.equal(nextLink('</a>; rel="prev", </b>; rel="next"'), '/b')
  t.equal(nextLink(['</a>; rel="prev"', '</b>; rel="next"']), '/b')
  t.equal(nextLink('</a>; rel="prev"'), undefined)
  t.equal(nextLink(undefined), undefined)
  t.equal(nextLink('garbage'), undefined)
})
