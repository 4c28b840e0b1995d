import t from 'tap'
import { errors } from 'undici'
import { UpstreamUnavailableError } from '../../src/errors.js'
import { failureReason, toTransportError } from '../../src/http/transport-errors.js'
import { Http1ProtocolError, Http1SocketClosedError, Http1TimeoutError } from '../../src/upstream/http1/errors.js'

function systemError(code: string): Error {
  return Object.assign(new Error(code), { code })
}

t.test('each failure counts under its reason, by class or by system code', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['http1 timeout', new Http1TimeoutError('silent'), 'timeout'],
    ['http1 closed', new Http1SocketClosedError('cut'), 'reset'],
    ['http1 protocol', new Http1ProtocolError('garbled'), 'other'],
    ['undici connect timeout', new errors.ConnectTimeoutError(), 'timeout'],
    ['undici headers timeout', new errors.HeadersTimeoutError(), 'timeout'],
    ['undici body timeout', new errors.BodyTimeoutError(), 'timeout'],
    ['undici socket', new errors.SocketError('other side closed'), 'reset'],
    ['undici parser', new errors.HTTPParserError('bad'), 'other'],
    ['refused', systemError('ECONNREFUSED'), 'refused'],
    ['reset', systemError('ECONNRESET'), 'reset'],
    ['broken pipe', systemError('EPIPE'), 'reset'],
    ['system timeout', systemError('ETIMEDOUT'), 'timeout'],
    ['tls handshake timeout', systemError('ERR_TLS_HANDSHAKE_TIMEOUT'), 'timeout'],
    ['dns', systemError('ENOTFOUND'), 'dns'],
    ['dns again', systemError('EAI_AGAIN'), 'dns'],
    ['tls name', systemError('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls'],
    ['tls chain', systemError('SELF_SIGNED_CERT_IN_CHAIN'), 'tls'],
    ['an imitated code is not a class', systemError('H1_TIMEOUT'), 'other'],
    ['no code', new Error('what'), 'other'],
    ['not an error', 'a string', 'other'],
  ]
  for (const [name, error, reason] of cases) t.equal(failureReason(error), reason, name)
})

t.test(
  'a transport failure becomes UpstreamUnavailableError, its code in the message and itself the cause',
  async (t) => {
    const cut = new Http1SocketClosedError('cut')
    const mapped = toTransportError(cut, 'GET /v2/x/blobs/y')
    t.type(mapped, UpstreamUnavailableError)
    t.equal(mapped.message, 'GET /v2/x/blobs/y: H1_SOCKET_CLOSED')
    t.equal(mapped.cause, cut)
    t.equal(toTransportError(new errors.HeadersTimeoutError(), 'GET /').message, 'GET /: UND_ERR_HEADERS_TIMEOUT')
    t.equal(toTransportError('odd', 'GET /').message, 'GET /: unknown')
  },
)

t.test('an abort stays an abort', async (t) => {
  const aborted = new Error('gone')
  aborted.name = 'AbortError'
  t.equal(toTransportError(aborted, 'GET /'), aborted)
  const controller = new AbortController()
  controller.abort()
  const during = new Http1SocketClosedError('cut')
  t.equal(toTransportError(during, 'GET /', controller.signal), during, 'whatever ended a request its caller aborted')
})
