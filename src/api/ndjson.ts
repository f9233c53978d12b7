/**
 * NDJSON (JSON lines) from a byte stream, one line at a time, without ever holding more than one line (plus one
 * chunk) in memory. Lines are split on \n (a trailing \r is dropped); a line longer than `maxLineBytes` is not
 * kept at all: it is reported as too long and skipped to its end. Blank lines are counted but not returned.
 */

export type NdjsonLine =
  | { readonly line: number; readonly text: string; readonly tooLong?: undefined }
  | { readonly line: number; readonly text?: undefined; readonly tooLong: true };

/** Synchronous splitter: feed chunks, get the complete lines of each (no promise per line on the hot path). */
export class NdjsonSplitter {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private parts: Buffer[] = [];
  private pending = 0;
  private skipping = false;
  private line = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** Lines completed by this chunk. */
  push(raw: Buffer | string): NdjsonLine[] {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    const out: NdjsonLine[] = [];
    let start = 0;
    if (this.parts.length > 0 || this.skipping) {
      // The first line continues the previous chunk's tail.
      const nl = chunk.indexOf(10);
      if (nl >= 0) {
        const done = this.finish(chunk.subarray(0, nl));
        if (done !== null) out.push(done);
        start = nl + 1;
      } else {
        this.keep(chunk);
        return out;
      }
    }
    const last = start < chunk.length ? chunk.lastIndexOf(10) : -1;
    if (last >= start) {
      this.lines(chunk, start, last, out);
      start = last + 1;
    }
    if (start < chunk.length) this.keep(chunk.subarray(start));
    return out;
  }

  /** Keeps the start of an unfinished line (or only counts it, once it is too long to keep). */
  private keep(rest: Buffer): void {
    if (!this.skipping) {
      this.pending += rest.length;
      if (this.pending > this.maxLineBytes + 1) {
        this.skipping = true;
        this.parts = [];
        this.pending = 0;
      } else {
        // Copy: the chunk's memory is reused by the stream, and a short tail must not pin a large chunk.
        this.parts.push(Buffer.from(rest));
      }
    }
  }

  /**
   * The complete lines in chunk[from, last] (last is a newline), decoded in one call rather than one per line:
   * the k-th newline byte is the k-th newline character (UTF-8 never uses 0x0A inside a character, and the
   * decoder keeps it even after an invalid sequence), so byte lengths (for the limit) and texts pair up.
   */
  private lines(chunk: Buffer, from: number, last: number, out: NdjsonLine[]): void {
    const text = this.decoder.decode(chunk.subarray(from, last + 1));
    let s = 0;
    let b = from;
    while (b <= last) {
      const be = chunk.indexOf(10, b);
      const se = text.indexOf('\n', s);
      const line = ++this.line;
      let bytes = be - b;
      let end = se;
      if (bytes > 0 && chunk[be - 1] === 13) {
        bytes--;
        end--;
      }
      if (bytes > this.maxLineBytes) {
        out.push({ line, tooLong: true });
      } else {
        let i = s;
        for (; i < end; i++) {
          const c = text.charCodeAt(i);
          if (c !== 32 && c !== 9 && c !== 13) break;
        }
        if (i < end) out.push({ line, text: text.slice(s, end) });
      }
      b = be + 1;
      s = se + 1;
    }
  }

  /** The last line, when the input does not end with a newline. */
  end(): NdjsonLine[] {
    if (this.pending === 0 && !this.skipping) return [];
    const done = this.finish(Buffer.alloc(0));
    return done === null ? [] : [done];
  }

  private finish(tail: Buffer): NdjsonLine | null {
    const line = ++this.line;
    if (this.skipping) {
      this.skipping = false;
      this.parts = [];
      this.pending = 0;
      return { line, tooLong: true };
    }
    const bytes = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
    this.parts = [];
    this.pending = 0;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 13) end--;
    if (end > this.maxLineBytes) return { line, tooLong: true };
    // Blank lines (only ASCII whitespace) are skipped without decoding.
    let blank = true;
    for (let i = 0; i < end; i++) {
      const c = bytes[i]!;
      if (c !== 32 && c !== 9 && c !== 13) {
        blank = false;
        break;
      }
    }
    return blank ? null : { line, text: this.decoder.decode(bytes.subarray(0, end)) };
  }
}

export async function* ndjsonLines(source: AsyncIterable<Buffer | string>, maxLineBytes: number): AsyncGenerator<NdjsonLine> {
  const splitter = new NdjsonSplitter(maxLineBytes);
  for await (const chunk of source) yield* splitter.push(chunk);
  yield* splitter.end();
}
