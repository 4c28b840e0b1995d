import { UpstreamContentError } from '../errors.js'
import { tagListPath } from '../oci/api-path.js'
import { nextLink, paginate, type Page } from '../oci/pagination.js'
import { readLimited } from '../http/body.js'
import type { UpstreamClient } from '../upstream/upstream-client.js'
import { upstreamAuthFor, type AccessVerdicts } from './access/access-verdicts.js'
import type { RequestContext } from './request-context.js'
import { statusError } from './upstream-errors.js'

/** Upper bounds for following an upstream's own pages: a runaway upstream stops here. */
const MAX_UPSTREAM_PAGES = 100
const MAX_TAG_LIST_BYTES = 16 * 1024 * 1024

export interface TagList {
  name: string
  page: Page<string>
  private: boolean
}

/**
 * Tag lists, paged by the mirror itself: some upstreams (Distribution 2.8) ignore `n` and
 * `last`, others page on their own terms, so the mirror gathers the whole list by
 * following the upstream's Link headers and pages it as the spec says.
 */
export class TagListService {
  constructor(
    private readonly upstream: UpstreamClient,
    private readonly verdicts: AccessVerdicts,
  ) {}

  async list(ctx: RequestContext, repo: string, n: number | undefined, last: string | undefined): Promise<TagList> {
    const access = await this.verdicts.check(ctx, repo, { kind: 'tags' })
    const auth = upstreamAuthFor(access, ctx)
    const tags = new Set<string>()
    let name = repo
    const path = tagListPath(repo)
    let query: Record<string, string> | undefined
    for (let page = 0; page < MAX_UPSTREAM_PAGES; page++) {
      const response = await this.upstream.send({
        method: 'GET',
        path,
        query,
        repo,
        auth,
        signal: ctx.signal,
        trace: ctx.trace,
      })
      if (response.status !== 200) throw await statusError(response)
      const body = parseTagList(await readLimited(response.body, MAX_TAG_LIST_BYTES))
      name = body.name ?? name
      for (const tag of body.tags) tags.add(tag)
      const next = nextLink(response.headers.link)
      const target = next === undefined ? undefined : new URL(next, 'http://upstream')
      // Only same-path continuations are followed; anything else ends the list.
      if (target === undefined || target.pathname !== path || target.origin !== 'http://upstream') break
      query = Object.fromEntries(target.searchParams)
    }
    return { name, page: paginate([...tags].sort(), n, last), private: access === 'private' }
  }
}

function parseTagList(body: Buffer): { name: string | undefined; tags: string[] } {
  let parsed: { name?: unknown; tags?: unknown }
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed
  } catch {
    throw new UpstreamContentError('tag list is not JSON')
  }
  const tags = Array.isArray(parsed.tags) ? parsed.tags.filter((t): t is string => typeof t === 'string') : []
  return { name: typeof parsed.name === 'string' ? parsed.name : undefined, tags }
}
