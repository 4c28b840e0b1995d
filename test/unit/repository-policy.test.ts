import t from 'tap'
import { repositoryPolicy } from '../../src/oci/repository-policy.js'

t.test('allow and deny patterns over repository names', async (t) => {
  const table: Array<[string[] | undefined, string[] | undefined, string, boolean]> = [
    [undefined, undefined, 'anything/at/all', true],
    [[], [], 'library/alpine', true],
    [['library/*'], undefined, 'library/alpine', true],
    [['library/*'], undefined, 'library/alpine/extra', false],
    [['library/*'], undefined, 'team/app', false],
    [['org/**'], undefined, 'org/a/b/c', true],
    [['org/**'], undefined, 'other/org/a', false],
    [['team/*', 'library/*'], undefined, 'team/app', true],
    [undefined, ['private/**'], 'private/alice/secret', false],
    [undefined, ['private/**'], 'library/private', true],
    [['**'], ['library/evil*'], 'library/evil-app', false],
    [['**'], ['library/evil*'], 'library/alpine', true],
    [['library/{alpine,busybox}'], undefined, 'library/busybox', true],
    [['library/{alpine,busybox}'], undefined, 'library/debian', false],
  ]
  for (const [allow, deny, repository, expected] of table) {
    t.equal(
      repositoryPolicy(allow, deny)(repository),
      expected,
      `${repository} allow=${String(allow)} deny=${String(deny)}`,
    )
  }
})
