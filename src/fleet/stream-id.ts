/**
 * Ordered record ids in the Redis Stream form `<milliseconds>-<sequence>`, used for events and audit records in
 * both Redis and in-memory mode so that cursors look and sort the same everywhere.
 */

const STREAM_ID = /^(\d{1,15})-(\d{1,15})$/;

export interface StreamId {
  readonly ms: number;
  readonly seq: number;
}

/** Parses `<ms>-<seq>`; null when malformed. */
export function parseStreamId(text: string): StreamId | null {
  const m = STREAM_ID.exec(text);
  if (!m) return null;
  const ms = Number(m[1]);
  const seq = Number(m[2]);
  return Number.isSafeInteger(ms) && Number.isSafeInteger(seq) ? { ms, seq } : null;
}

export function formatStreamId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

/** Negative, zero or positive like a comparator; both ids must be well formed. */
export function compareStreamIds(a: string, b: string): number {
  const x = parseStreamId(a)!;
  const y = parseStreamId(b)!;
  return x.ms !== y.ms ? x.ms - y.ms : x.seq - y.seq;
}

/** Hands out strictly increasing ids from a wall clock that may stand still or step back. */
export class StreamIdClock {
  private lastMs = 0;
  private seq = 0;
  constructor(private readonly now: () => number = Date.now) {}

  next(): string {
    const ms = Math.max(this.now(), this.lastMs);
    if (ms === this.lastMs) this.seq++;
    else {
      this.lastMs = ms;
      this.seq = 0;
    }
    return `${this.lastMs}-${this.seq}`;
  }
}
