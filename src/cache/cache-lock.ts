import { randomBytes } from 'node:crypto'
import { readFileSync, unlinkSync } from 'node:fs'
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { OperatorError } from '../errors.js'
import { parseRecord } from './records.js'

/** Who holds a cache dir: the lock file's content. */
export interface LockHolder {
  pid: number
  /**
   * When the process started: `proc:<clock ticks since boot>` from /proc/<pid>/stat, so a
   * PID reused by another process is told apart; `epoch:<ms>` where there is no /proc.
   */
  startTime: string
  /** A PID means nothing on another host (another container sharing the volume). */
  host: string
  /** The command that holds it: `serve`, `import`, `prefetch`, `reindex`. */
  command: string
  /** Where a serving mirror takes commands (its control socket). */
  control?: string
  /** When it was taken, for the operator. */
  since: string
}

const holderSchema = z.object({
  pid: z.number().int().positive(),
  startTime: z.string(),
  host: z.string(),
  command: z.string(),
  control: z.string().optional(),
  since: z.string(),
}) satisfies z.ZodType<LockHolder>

/** What can be learned of a PID on this host. */
export interface ProcessState {
  alive: boolean
  /** In the form of LockHolder.startTime, when it can be read. */
  startTime?: string
}

/**
 * A holder is stale when its process is gone, or when its PID now belongs to a process
 * that started at another time (the PID was reused). A holder on another host cannot be
 * checked from here and counts as live: the operator removes its lock by hand.
 */
export function isStale(holder: LockHolder, here: string, state: ProcessState): boolean {
  if (holder.host !== here) return false
  if (!state.alive) return true
  const comparable = holder.startTime.startsWith('proc:') && state.startTime?.startsWith('proc:') === true
  return comparable && holder.startTime !== state.startTime
}

/** Field 22 of /proc/<pid>/stat; the state field (3) says whether it is a zombie. */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  // The command name (field 2) is in parentheses and may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const state = fields[0]
  const ticks = fields[19]
  if (state === undefined || ticks === undefined || !/^\d+$/.test(ticks)) return undefined
  return { state, startTime: `proc:${ticks}` }
}

async function probe(pid: number): Promise<ProcessState> {
  // Signal 0 to PID 0 would reach our own process group.
  if (pid <= 0) return { alive: false }
  try {
    process.kill(pid, 0)
  } catch (e) {
    // EPERM: it exists, as another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return { alive: false }
  }
  const stat = parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''))
  if (stat === undefined) return { alive: true }
  // A zombie has exited; only its parent has not collected it yet.
  return stat.state === 'Z' || stat.state === 'X' ? { alive: false } : { alive: true, startTime: stat.startTime }
}

function ownStartTime(): string {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'))
    if (stat !== undefined) return stat.startTime
  } catch {
    // No /proc: below.
  }
  return `epoch:${Math.round(Date.now() - process.uptime() * 1000)}`
}

export class CacheDirBusyError extends OperatorError {
  override readonly name = 'CacheDirBusyError'
  constructor(
    readonly holder: LockHolder,
    cacheDir: string,
  ) {
    const who = holder.command === 'serve' ? 'a mirror serving it' : `registry-mirror ${holder.command}`
    super(
      `cache dir ${cacheDir} is in use by ${who} (pid ${holder.pid} on ${holder.host}, since ${holder.since}); ` +
        `if that process is gone, remove ${lockPath(cacheDir)}`,
    )
  }
}

export const lockPath = (cacheDir: string): string => join(cacheDir, 'lock')

async function readHolder(path: string): Promise<LockHolder | undefined> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null
    throw e
  })
  if (text === null) return undefined
  // Unreadable content cannot name a live holder (a lock appears whole, by link): stale.
  return parseRecord(holderSchema, text) ?? { pid: 0, startTime: '', host: hostname(), command: '?', since: '' }
}

const TAKE_OVER_ATTEMPTS = 5

/**
 * One writer per cache dir: `<cacheDir>/lock`, made by an exclusive create (a link of a
 * complete temp file, so no reader ever sees it half written) and holding the holder's
 * PID, start time and host. A lock whose holder is gone is taken over: it is moved
 * aside, checked to be the one judged stale (another process may have taken it over
 * meanwhile: then it is put back), and dropped.
 */
export class CacheLock {
  private released = false

  private constructor(
    readonly path: string,
    readonly holder: LockHolder,
  ) {}

  static async acquire(cacheDir: string, options: { command: string; control?: string }): Promise<CacheLock> {
    const path = lockPath(cacheDir)
    const holder: LockHolder = {
      pid: process.pid,
      startTime: ownStartTime(),
      host: hostname(),
      command: options.command,
      ...(options.control === undefined ? {} : { control: options.control }),
      since: new Date().toISOString(),
    }
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(temp, JSON.stringify(holder) + '\n', { flag: 'wx' })
    try {
      for (let attempt = 0; attempt < TAKE_OVER_ATTEMPTS; attempt++) {
        try {
          await link(temp, path)
          return new CacheLock(path, holder)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        }
        const current = await CacheLock.holder(cacheDir)
        if (current !== undefined) throw new CacheDirBusyError(current, cacheDir)
      }
      throw new Error(`could not take over the stale lock ${path}`)
    } finally {
      await unlink(temp).catch(() => {})
    }
  }

  /**
   * The live holder of a cache dir, if any. A stale lock found on the way is removed, so
   * that the caller may take the dir.
   */
  static async holder(cacheDir: string): Promise<LockHolder | undefined> {
    const path = lockPath(cacheDir)
    const found = await readHolder(path)
    if (found === undefined) return undefined
    if (!isStale(found, hostname(), await probe(found.pid))) return found
    const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`
    try {
      await rename(path, aside)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw e
    }
    const moved = await readHolder(aside)
    if (moved !== undefined && moved.pid === found.pid && moved.startTime === found.startTime) {
      await unlink(aside)
      return undefined
    }
    // Another process took the dir over between our read and the move: its lock goes back.
    await link(aside, path).catch(() => {})
    await unlink(aside)
    return moved
  }

  /** Removes the lock if it is still this process's. */
  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    const current = await readHolder(this.path)
    if (current?.pid === this.holder.pid && current.startTime === this.holder.startTime) {
      await unlink(this.path).catch(() => {})
    }
  }

  /** For process 'exit' handlers, where nothing asynchronous runs. */
  releaseSync(): void {
    if (this.released) return
    this.released = true
    try {
      const current = parseRecord(holderSchema, readFileSync(this.path, 'utf8'))
      if (current?.pid === this.holder.pid && current.startTime === this.holder.startTime) unlinkSync(this.path)
    } catch {
      // Already gone.
    }
  }
}
