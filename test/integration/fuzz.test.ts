import t from 'tap'
import { z } from 'zod'
import { ALICE, tokenVia } from '../helpers/credentials.js'
import { hostileRequests, type HostileCase, type Targets } from '../helpers/hostile-requests.js'
import { rawExchange, type RawExchange } from '../helpers/raw-http.js'
import { startStack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

/**
 * A few hundred malformed and hostile requests over raw sockets, against the mirror in
 * front of the real token-auth registry. Another seed explores other requests
 * (`FUZZ_SEED=7 npx tap test/integration/fuzz.test.ts`); a failure names the seed and the
 * request, and a fix adds that request to hostile-requests.test.ts.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 12_2026)
const COUNT = 400
/** Connections open at once: enough to overlap upstream round trips on two cores. */
const PARALLEL = 8
/** A well-formed request gets its answer (or the connection closes) within this. */
const DEADLINE_MS = 8_000

interface Outcome {
  index: number
  item: HostileCase
  exchange: RawExchange
}

function describe({ index, item, exchange }: Outcome): string {
  const statuses = exchange.responses.map((r) => r.status).join(',')
  const request = JSON.stringify(item.bytes.toString('latin1').slice(0, 200))
  return `#${index} ${item.category} → [${statuses}] ${exchange.ended}: ${request}`
}

/** Runs `work` over `items` with at most `parallel` at once, in order of start. */
async function pool<T, R>(items: T[], parallel: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return results
}

/** The OCI error format: a non-empty `errors` list, each with a code and a message. */
const ociError = z.object({ errors: z.array(z.object({ code: z.string(), message: z.string() })).min(1) })

function isOciError(body: Buffer): boolean {
  try {
    return ociError.safeParse(JSON.parse(body.toString('utf8'))).success
  } catch {
    return false
  }
}

/** /token answers with exactly what the upstream's realm answered, in the realm's own format. */
const fromRealm = (item: HostileCase) => /^[A-Za-z]+ (http:\/\/[^/]+)?\/token[?\s]/.test(item.bytes.toString('latin1'))

t.test(`hostile requests, seed ${SEED}: no 500, no hang, OCI errors, and pulls still work`, async (t) => {
  const { upstream, mirror } = await startStack(t)
  const { small, multi, docker2, dlist, private: secret } = upstream.fixture.images
  const smallBlobs = (image: typeof small) => image!.blobs.filter((b) => b.size < 2 * 1024 * 1024)
  const targets: Targets = {
    host: mirror.host,
    manifests: [small!, multi!, docker2!, dlist!].flatMap((i) => [
      `/v2/${i.repo}/manifests/1`,
      `/v2/${i.repo}/manifests/${i.digest}`,
    ]),
    blobs: [small!, docker2!].flatMap((i) => smallBlobs(i).map((b) => `/v2/${i.repo}/blobs/${b.digest}`)),
    others: [
      '/v2/',
      `/v2/${small!.repo}/tags/list?n=1`,
      `/v2/${small!.repo}/referrers/${small!.digest}`,
      '/v2/_catalog',
      `/v2/${small!.repo}/blobs/uploads/`,
      '/token?service=test-registry&scope=repository:library/small:pull',
      '/v2/private/alice/secret/manifests/1',
      '/v2/nope/nothing/manifests/x',
      '/healthz',
    ],
    upload: `/v2/${small!.repo}/blobs/uploads/`,
    queried: [
      `/v2/${small!.repo}/tags/list`,
      `/v2/${small!.repo}/referrers/${small!.digest}`,
      '/token?service=test-registry&scope=repository:library/small:pull',
      `/v2/${small!.repo}/manifests/1`,
    ],
    privateBlob: {
      path: `/v2/${secret!.repo}/blobs/${secret!.blobs.at(-1)!.digest}`,
      authorization: `Bearer ${await tokenVia(mirror.url, secret!.repo, ALICE)}`,
    },
  }
  const cases = hostileRequests(SEED, COUNT, targets)
  const outcomes = await pool(cases, PARALLEL, async (item, index): Promise<Outcome> => {
    const exchange = await rawExchange(mirror.url, item.bytes, {
      halfClose: item.halfClose,
      timeoutMs: DEADLINE_MS,
      bodiless: (i) => item.heads.includes(i),
    })
    return { index, item, exchange }
  })

  // Fewer answers than requests only after one that said it closes the connection (the
  // client sends the rest again), as HTTP/1.1 lets a server do with pipelined requests.
  const closedEarly = (o: Outcome) => o.exchange.responses.at(-1)?.headers.connection === 'close'
  const hung = outcomes.filter(
    (o) => o.exchange.ended !== 'closed' || (o.exchange.responses.length < o.item.answers && !closedEarly(o)),
  )
  t.same(hung.map(describe), [], 'every request is answered, or its connection closed, in time')
  const answers = outcomes.flatMap((o) => o.exchange.responses.map((response) => ({ ...o, response })))
  t.same(answers.filter((a) => a.response.status === 500).map(describe), [], 'no 500')
  const notOci = answers.filter(
    (a) => a.response.status >= 400 && a.response.body.length > 0 && !fromRealm(a.item) && !isOciError(a.response.body),
  )
  t.same(notOci.map(describe), [], 'every error with a body is in the OCI format')

  // A 5xx is explained only if the upstream answers the very same bytes with one too.
  const unexplained: string[] = []
  for (const outcome of outcomes.filter((o) => o.exchange.responses.some((r) => r.status >= 500))) {
    const direct = await rawExchange(upstream.registry.url, outcome.item.bytes, {
      halfClose: true,
      timeoutMs: DEADLINE_MS,
    })
    if (!direct.responses.some((r) => r.status >= 500)) unexplained.push(describe(outcome))
  }
  t.same(unexplained, [], 'no 5xx the upstream would not give too')
  const lineOf = (reqId: unknown) => mirror.logs.find((l) => l.reqId === reqId && l.msg === 'request')
  t.same(
    mirror.logs
      .filter((l) => typeof l.level === 'number' && l.level >= 50)
      .map((l) => {
        const line = lineOf(l.reqId)
        const err = l.err as { message?: unknown } | undefined
        return `${String(l.msg)}: ${String(err?.message)} (${String(line?.method)} ${String(line?.url).slice(0, 120)})`
      }),
    [],
    'nothing logged as an error',
  )

  const statuses = new Map<number, number>()
  for (const a of answers) statuses.set(a.response.status, (statuses.get(a.response.status) ?? 0) + 1)
  t.comment(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`)

  for (const image of [small!, multi!]) {
    const out = await makeTempDir('fuzz-pull')
    t.teardown(() => out.remove())
    await skopeoCopy(`${mirror.host}/${image.repo}:${image.tag}`, out.path, image === multi ? ['--all'] : [])
    const digests = await verifyDirLayout(out.path)
    t.ok(
      image.blobs.every((b) => digests.includes(b.digest)),
      `${image.repo}: a good pull still works afterwards, byte for byte`,
    )
  }
})
