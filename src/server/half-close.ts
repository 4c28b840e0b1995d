/**
 * A client that half-closes its side once its request is sent (`shutdown(SHUT_WR)`, as
 * `nc -q` and some scripts do) is still there to read the answer. Node's HTTP server takes
 * that FIN for an abort by default: it destroys the requests in flight, which aborts
 * their signals, and ends its own side, so such a client got nothing from any route that
 * answers after a round trip. `httpAllowHalfOpen`, Node's switch for this (after squid's
 * `half_closed_clients`), keeps the requests and closes the connection once the last
 * answer is written. A reset, or a write that fails, still ends a request at once.
 */
export function answerHalfClosedClients(server: object): void {
  Object.assign(server, { httpAllowHalfOpen: true })
}
