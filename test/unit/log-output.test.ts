import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { REDACTED_PATHS } from '../../src/logger.js'
import { isPretty, logOutput, messageOf } from '../../src/serve/log-output.js'

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

t.test('JSON adds nothing to the logger; pretty lines keep redaction', async (t) => {
  t.same(await logOutput(false), {})
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
