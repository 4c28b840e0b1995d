// The walk after a crash sizes the index's tables from an estimate of the blobs on disk:
// one prefix directory counted, times their number.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { estimateBlobCount } from '../../src/cache/fs-blob-scan.js'
import { makeTempDir } from '../helpers/temp-dir.js'

t.test('a directory of each prefix, counted once and multiplied; strays and meta files left out', async (t) => {
  const dir = await makeTempDir('estimate')
  t.teardown(dir.remove)
  const blobs = join(dir.path, 'blobs')
  for (let p = 0; p < 16; p++) {
    const prefix = join(blobs, 'sha256', `${p.toString(16)}0`)
    await mkdir(prefix, { recursive: true })
    for (let n = 0; n < 10; n++) {
      const name = `${p.toString(16)}0${String(n).padStart(62, '0')}`
      await writeFile(join(prefix, name), 'x')
      if (n === 0) await writeFile(join(prefix, `${name}.json`), '{}')
    }
    await writeFile(join(prefix, 'stray'), 'x')
  }
  await mkdir(join(blobs, 'md5', 'aa'), { recursive: true })
  await writeFile(join(blobs, 'md5', 'aa', 'a'.repeat(32)), 'x')
  t.equal(await estimateBlobCount(blobs), 160)
  t.equal(await estimateBlobCount(join(dir.path, 'none')), 0, 'no cache dir yet: none')
})
