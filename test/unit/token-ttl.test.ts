import t from 'tap'
import { tokenCacheTtlMs } from '../../src/auth/token-service.js'

t.test('tokens are kept until shortly before they expire', async (t) => {
  t.equal(tokenCacheTtlMs(300), 285_000, "Docker Hub's 300 s less 15 s")
  t.equal(tokenCacheTtlMs(undefined), 45_000, 'no expires_in: the spec says 60 s')
  t.equal(tokenCacheTtlMs(0), 45_000)
  t.equal(tokenCacheTtlMs('300'), 45_000, 'not a number: the default')
  t.equal(tokenCacheTtlMs(20), 15_000, 'short tokens keep three quarters of their life')
  t.equal(tokenCacheTtlMs(1), 1_000, 'never less than a second')
})
