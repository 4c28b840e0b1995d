import cliProgress from 'cli-progress'
import { formatBytes } from './table.js'

/** One transfer's progress: an image prefetched, a bundle written or read. */
export interface TaskProgress {
  add(bytes: number): void
  done(line: string): void
  fail(line: string): void
}

export interface ProgressDisplay {
  task(name: string, totalBytes: number): TaskProgress
  /** A line for the operator, above the bars on a terminal. */
  note(line: string): void
  stop(): void
}

/** Without a terminal, a line per task this often at most, so a log shows it moving. */
const PLAIN_EVERY_MS = 5000

function rate(bytes: number, sinceMs: number, now: number): string {
  const seconds = Math.max(0.001, (now - sinceMs) / 1000)
  return `${formatBytes(bytes / seconds)}/s`
}

/**
 * On a terminal: a bar per task with bytes, speed and ETA (cli-progress). Otherwise, plain
 * lines: when a task starts, every few seconds while it runs, and when it ends. Both go
 * to `stream` (stderr), so stdout stays free for what a command produces.
 */
export function progressDisplay(stream: NodeJS.WriteStream = process.stderr, now = Date.now): ProgressDisplay {
  return stream.isTTY === true ? barDisplay(stream, now) : plainDisplay(stream, now)
}

function barDisplay(stream: NodeJS.WriteStream, now: () => number): ProgressDisplay {
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: '{task} |{bar}| {percentage}% {done}/{size} {speed} ETA {eta_formatted}',
      barsize: 24,
      hideCursor: true,
      autopadding: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  )
  return {
    task: (name, totalBytes) => {
      const started = now()
      const total = Math.max(1, totalBytes)
      let value = 0
      const payload = () => ({
        task: name,
        done: formatBytes(value),
        size: formatBytes(totalBytes),
        speed: rate(value, started, now()),
      })
      const bar = bars.create(total, 0, payload())
      return {
        add: (bytes) => {
          value += bytes
          bar.update(Math.min(value, total), payload())
        },
        done: (line) => {
          bar.update(total, payload())
          bars.log(`${line}\n`)
        },
        fail: (line) => bars.log(`${line}\n`),
      }
    },
    note: (line) => bars.log(`${line}\n`),
    stop: () => bars.stop(),
  }
}

function plainDisplay(stream: NodeJS.WriteStream, now: () => number): ProgressDisplay {
  const say = (line: string) => stream.write(`${line}\n`)
  return {
    task: (name, totalBytes) => {
      const started = now()
      let value = 0
      let said = started
      say(`${name}: ${formatBytes(totalBytes)} to transfer`)
      return {
        add: (bytes) => {
          value += bytes
          if (now() - said < PLAIN_EVERY_MS) return
          said = now()
          const percent = totalBytes > 0 ? Math.floor((100 * value) / totalBytes) : 100
          say(
            `${name}: ${percent}% (${formatBytes(value)} of ${formatBytes(totalBytes)}, ${rate(value, started, said)})`,
          )
        },
        done: say,
        fail: say,
      }
    },
    note: say,
    stop: () => {},
  }
}
