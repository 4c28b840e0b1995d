import pino from 'pino'
import type { LogFormat } from '../config/schema.js'

/**
 * Fields of the one line per request (server/request-record.ts), said in its message
 * instead; no other line has them.
 */
const REQUEST_FIELDS = ['method', 'url', 'status', 'outcome', 'ms'] as const

const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024

/** `auto` is pretty for a person at a terminal, JSON lines for a collector. */
export function isPretty(format: LogFormat, stdoutIsTerminal: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && stdoutIsTerminal)
}

const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '-')

/** `GET /v2/library/alpine/manifests/3.19 200 hit 4 ms` for a request line; other messages as they are. */
export function messageOf(log: Record<string, unknown>, messageKey: string): string {
  const message = text(log[messageKey])
  if (message !== 'request') return message
  return REQUEST_FIELDS.map((field) => text(log[field])).join(' ') + ' ms'
}

/**
 * What the app's logger writes to, beyond its level and redaction (which apply before any
 * output). JSON lines go to stdout asynchronously: the lines logged while one write is
 * in flight leave together in the next, where a write per request line was a quarter of
 * a cached answer's time under load; pino flushes what is left when the process exits,
 * so the last lines are still seen. Pretty lines are pino-pretty's stream, loaded only
 * when used, and written synchronously (a person at a terminal is not a HEAD storm): one
 * line per entry, the other fields after the message; errors keep their stack below.
 */
export async function logOutput(
  pretty: boolean,
  destination: NodeJS.WritableStream | number = 1,
): Promise<Record<string, unknown>> {
  if (!pretty) {
    if (typeof destination !== 'number') return { stream: destination }
    // A reader that stops (a stuck log collector) costs lines past the bound, never the
    // mirror's memory or its serving.
    return { stream: pino.destination({ dest: destination, sync: false, maxLength: MAX_BUFFERED_LOG_BYTES }) }
  }
  const { PinoPretty } = await import('pino-pretty')
  return {
    stream: PinoPretty({
      destination,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: ['pid', 'hostname', ...REQUEST_FIELDS].join(','),
      singleLine: true,
      messageFormat: messageOf,
      sync: true,
    }),
  }
}
