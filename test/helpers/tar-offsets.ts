/** Where each file's bytes sit in a ustar archive: to spoil one on purpose. */
export function tarEntryData(tar: Buffer): Array<{ name: string; offset: number; size: number }> {
  const entries: Array<{ name: string; offset: number; size: number }> = []
  let at = 0
  while (at + 512 <= tar.length && tar[at] !== 0) {
    const field = (from: number, length: number) =>
      tar
        .subarray(at + from, at + from + length)
        .toString('latin1')
        .replace(/\0.*$/s, '')
    const size = Number.parseInt(field(124, 12).trim() || '0', 8)
    const prefix = field(345, 155)
    const name = prefix === '' ? field(0, 100) : `${prefix}/${field(0, 100)}`
    entries.push({ name, offset: at + 512, size })
    at += 512 + Math.ceil(size / 512) * 512
  }
  return entries
}
