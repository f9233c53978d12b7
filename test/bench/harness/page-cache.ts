import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Reads a file once, untimed, so that the timed run that follows finds it in the page cache. Called before every
 * timed run, not once per file: besides the first run of whichever tool goes first, this VM runs a DAMON
 * `pageout` scheme that reclaims memory idle for about a minute, page cache included, so a capture can drop out
 * of memory between the runs of a long benchmark and one run would then time the disk.
 */
export function warmPageCache(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0) {
      // discard
    }
  } finally {
    closeSync(fd);
  }
}
