/**
 * A bounded, id-ordered in-memory log (events and audit records in single-box mode): the newest `capacity`
 * records, read by cursor (`afterId`) or by time (`sinceMs`), oldest first. Optionally every record is also
 * appended to a JSON-lines file, so that history survives the ring and the process.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { compareStreamIds, parseStreamId, StreamIdClock } from './stream-id.js';

export interface LogRecord {
  readonly id: string;
}

export interface BoundedLogPage<T> {
  readonly records: T[];
  /** Last returned id (continue or poll from it); the given cursor again when nothing was returned. */
  readonly nextCursor: string | null;
  /** Whether newer records than the page existed at read time. */
  readonly more: boolean;
}

export interface BoundedLogOptions {
  readonly capacity: number;
  /** Append every record as one JSON line to this file. */
  readonly file?: string;
  /** Called when the file cannot be written (the log keeps working in memory). */
  readonly onFileError?: (err: Error) => void;
  readonly clock?: () => number;
}

export class BoundedLog<T extends LogRecord> {
  private readonly ring: (T | undefined)[];
  private start = 0;
  private count = 0;
  private readonly ids: StreamIdClock;
  private file: WriteStream | null = null;
  private fileFailed = false;

  constructor(options: BoundedLogOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.ring = new Array<T | undefined>(options.capacity);
    this.ids = new StreamIdClock(options.clock);
    if (options.file) {
      this.file = createWriteStream(options.file, { flags: 'a', mode: 0o600 });
      this.file.on('error', (err) => {
        this.fileFailed = true;
        this.file = null;
        options.onFileError?.(err);
      });
    }
  }

  get size(): number {
    return this.count;
  }

  /** Whether appending to the file failed (the in-memory ring still holds the records). */
  get fileError(): boolean {
    return this.fileFailed;
  }

  /** Adds a record built around a fresh id; returns it. */
  append(build: (id: string) => T): T {
    const record = build(this.ids.next());
    const capacity = this.ring.length;
    if (this.count < capacity) {
      this.ring[(this.start + this.count) % capacity] = record;
      this.count++;
    } else {
      this.ring[this.start] = record;
      this.start = (this.start + 1) % capacity;
    }
    this.file?.write(JSON.stringify(record) + '\n');
    return record;
  }

  private at(i: number): T {
    return this.ring[(this.start + i) % this.ring.length]!;
  }

  /** Index of the first record for which `before` is false (records are id-ordered), by binary search. */
  private firstIndex(before: (record: T) => boolean): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.at(mid))) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Records after `afterId`, else at or after `sinceMs`, else the newest `limit` ones; oldest first. The cursor
   * is the last returned id (to continue, or to poll for newer records later).
   */
  read(query: { afterId?: string; sinceMs?: number; limit: number }): BoundedLogPage<T> {
    const limit = Math.max(1, query.limit);
    const { afterId, sinceMs } = query;
    let from: number;
    if (afterId !== undefined) from = this.firstIndex((r) => compareStreamIds(r.id, afterId) <= 0);
    else if (sinceMs !== undefined) from = this.firstIndex((r) => parseStreamId(r.id)!.ms < sinceMs);
    else from = Math.max(0, this.count - limit);
    const to = Math.min(this.count, from + limit);
    const records: T[] = [];
    for (let i = from; i < to; i++) records.push(this.at(i));
    const last = records.length > 0 ? records[records.length - 1]!.id : (afterId ?? null);
    return { records, nextCursor: last, more: to < this.count };
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = null;
    if (file) await new Promise<void>((resolve) => file.end(resolve));
  }
}
