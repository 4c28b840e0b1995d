import { referrersPath } from '../oci/api-path.js'
import type { UpstreamClient, UpstreamResponse } from '../upstream/upstream-client.js'
import { upstreamAuthFor, type AccessVerdicts } from './access/access-verdicts.js'
import type { RequestContext } from './request-context.js'
import { statusError } from './upstream-errors.js'

/** The referrers API, passed through: the answer depends on what the upstream holds now. */
export class ReferrersService {
  constructor(
    private readonly upstream: UpstreamClient,
    private readonly verdicts: AccessVerdicts,
  ) {}

  /** The upstream's 200 answer, body unread; any other status is thrown to be relayed. */
  async get(
    ctx: RequestContext,
    repo: string,
    digest: string,
    artifactType: string | undefined,
  ): Promise<UpstreamResponse & { private: boolean }> {
    const access = await this.verdicts.check(ctx, repo, { kind: 'tags' })
    const response = await this.upstream.send({
      method: 'GET',
      path: referrersPath(repo, digest),
      query: artifactType === undefined ? undefined : { artifactType },
      repo,
      accept: 'application/vnd.oci.image.index.v1+json',
      auth: upstreamAuthFor(access, ctx),
      signal: ctx.signal,
      trace: ctx.trace,
    })
    if (response.status !== 200) throw await statusError(response)
    return { ...response, private: access === 'private' }
  }
}
