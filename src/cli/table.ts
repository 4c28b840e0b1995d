import bytes from 'bytes'

/** Rows as aligned columns, the first row a header; the last column is not padded. */
export function formatTable(rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** `12.3 MiB`. */
export function formatBytes(n: number): string {
  return (bytes.format(n, { unitSeparator: ' ', decimalPlaces: 1 }) ?? `${n} B`).replace(/([KMGTP])B$/, '$1iB')
}

/** `sha256:0123456789ab` — enough to tell digests apart in a listing. */
export function shortDigest(digest: string): string {
  return digest.slice(0, digest.indexOf(':') + 13)
}

/** `2024-05-01 12:03` (UTC). */
export function formatTime(ms: number): string {
  return ms <= 0 ? '-' : new Date(ms).toISOString().slice(0, 16).replace('T', ' ')
}
