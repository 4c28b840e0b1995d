import { setTimeout as sleep } from 'node:timers/promises'

/** The first re-check comes this soon; each next one waits twice as long, up to the cap. */
const FIRST_POLL_MS = 5
const MAX_POLL_MS = 250

/**
 * Asks `condition` until it holds, and fails once `deadline` milliseconds have passed.
 * Only for what sends no event to wait on (a state inside another process, like
 * Prometheus's scrapes or a Redis cluster's gossip, or a count the code under test does
 * not announce); whatever has an event is awaited on that event instead.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  deadline: number,
  what = 'the condition',
): Promise<void> {
  const until = Date.now() + deadline
  for (let pause = FIRST_POLL_MS; !(await condition()); pause = Math.min(2 * pause, MAX_POLL_MS)) {
    if (Date.now() > until) throw new Error(`${what} did not hold within ${deadline} ms`)
    await sleep(pause)
  }
}
