// Fails the test run when line coverage drops below the floor. tap itself only knows
// "100% or nothing"; integration tests cover the I/O paths, so the floor sits below that,
// on purpose, and is raised as tests grow.
import { readFileSync } from 'node:fs'

const FLOOR_PERCENT = 80

interface Summary {
  total: { lines: { pct: number }; branches: { pct: number } }
}

const summary = JSON.parse(readFileSync('.tap/report/coverage-summary.json', 'utf8')) as Summary
const { lines, branches } = summary.total
process.stdout.write(`coverage: lines ${lines.pct}%, branches ${branches.pct}% (floor ${FLOOR_PERCENT}% lines)\n`)
if (lines.pct < FLOOR_PERCENT) {
  process.stderr.write(`line coverage ${lines.pct}% is under the ${FLOOR_PERCENT}% floor\n`)
  process.exit(1)
}
