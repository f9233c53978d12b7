import { closeSync, openSync, writeSync } from 'node:fs';
import { OffpathError, OutputClosedError } from '../util/errors.js';

/**
 * Buffered, synchronous line output to a file (or "-" for stdout). Synchronous on purpose: the replay loop
 * is synchronous, and a bounded buffer flushed with writeSync keeps memory flat however many lines there are.
 */
export class LineWriter {
  private fd: number;
  private readonly ownsFd: boolean;
  private chunks: string[] = [];
  private pending = 0;
  private readonly flushAt: number;
  readonly path: string;
  lines = 0;

  constructor(path: string, flushAt = 1 << 20) {
    this.path = path;
    this.flushAt = flushAt;
    if (path === '-') {
      this.fd = 1;
      this.ownsFd = false;
    } else {
      try {
        this.fd = openSync(path, 'w');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new OffpathError('output', `cannot write ${path} (${e.code ?? e.message})`, 'check the directory exists and is writable');
      }
      this.ownsFd = true;
    }
  }

  write(line: string): void {
    this.chunks.push(line, '\n');
    this.pending += line.length + 1;
    this.lines++;
    if (this.pending >= this.flushAt) this.flush();
  }

  flush(): void {
    if (this.pending === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.pending = 0;
    const buf = Buffer.from(text);
    try {
      for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') throw new OutputClosedError(this.path);
      throw err;
    }
  }

  close(): void {
    this.flush();
    if (this.ownsFd) closeSync(this.fd);
  }
}
