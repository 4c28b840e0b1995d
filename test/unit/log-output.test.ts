import { execFile } from 'node:child_process'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { pino } from 'pino'
import t from 'tap'
import { REDACTED_PATHS } from '../../src/logger.js'
import { isPretty, logOutput, messageOf } from '../../src/serve/log-output.js'

const run = promisify(execFile)

t.test('auto is pretty on a terminal only; pretty and json are what they say', async (t) => {
  const table: Array<[Parameters<typeof isPretty>[0], boolean, boolean]> = [
    ['auto', true, true],
    ['auto', false, false],
    ['pretty', false, true],
    ['pretty', true, true],
    ['json', true, false],
    ['json', false, false],
  ]
  for (const [format, terminal, pretty] of table) t.equal(isPretty(format, terminal), pretty, `${format} ${terminal}`)
})

t.test('a request line says what was asked and how it went; other messages stay as they are', async (t) => {
  const request = {
    msg: 'request',
    method: 'GET',
    url: '/v2/library/alpine/manifests/3',
    status: 200,
    outcome: 'hit',
    ms: 4,
  }
  t.equal(messageOf(request, 'msg'), 'GET /v2/library/alpine/manifests/3 200 hit 4 ms')
  t.equal(messageOf({ ...request, outcome: undefined }, 'msg'), 'GET /v2/library/alpine/manifests/3 200 - 4 ms')
  t.equal(messageOf({ msg: 'registry mirror ready', method: 'x' }, 'msg'), 'registry mirror ready')
})

t.test('JSON lines written asynchronously still all reach stdout when the process exits at once', async (t) => {
  const script = [
    "import { pino } from 'pino'",
    `import { logOutput } from ${JSON.stringify(new URL('../../src/serve/log-output.ts', import.meta.url).href)}`,
    'const { stream } = await logOutput(false)',
    'const log = pino({}, stream)',
    "for (let i = 0; i < 5000; i++) log.info({ i }, 'request')",
    'process.exit(0)',
  ].join('\n')
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    maxBuffer: 64 << 20,
  })
  const lines = stdout.trimEnd().split('\n')
  t.equal(lines.length, 5000, 'every line')
  t.same((JSON.parse(lines.at(-1)!) as { i: number }).i, 4999, 'the last one too')
})

t.test('pretty lines keep redaction', async (t) => {
  let written = ''
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written += chunk.toString()
      callback()
    },
  })
  const { stream } = (await logOutput(true, sink)) as { stream: pino.DestinationStream }
  const log = pino({ redact: REDACTED_PATHS }, stream)
  log.info({ req: { headers: { authorization: 'Bearer secret' } }, token: 'secret' }, 'token relayed')
  log.info({ method: 'GET', url: '/v2/', status: 401, outcome: undefined, ms: 1, reqId: 'req-1' }, 'request')
  const lines = written.trimEnd().split('\n')
  t.equal(lines.length, 2, 'one line each')
  t.match(lines[0], /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: token relayed /)
  t.notMatch(written, /secret/, 'credentials redacted')
  t.match(lines[1], /INFO: GET \/v2\/ 401 - 1 ms \{"reqId":"req-1"\}$/, 'the request fields only in the message')
})
