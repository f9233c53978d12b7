/**
 * What the load client records per connection and how it sums them up, shared by the client (which prints it)
 * and the tests and benchmarks (which read it back).
 */
import { percentile } from './lab-protocol.js';

export type Outcome =
  /** The exchange finished: QUIT sent (after the banner / response / hold time) and the server closed cleanly. */
  | 'completed'
  /**
   * ECONNRESET, ECONNREFUSED (a reset while connecting), EPIPE (writing into a reset connection), or "EOF": the
   * connection ended before the exchange did, which the peer server never does by itself (Linux sometimes
   * reports an accepted RST to the application as end-of-file).
   */
  | 'reset'
  /** Neither finished nor failed before the deadline. */
  | 'timeout'
  /** The socket closed without an error and without end-of-file (not expected; kept apart to be seen). */
  | 'closed'
  /** Any other socket error (its code is kept). */
  | 'error'
  /** Still open when the client was told to stop (SIGTERM). */
  | 'aborted';

export const RESET_CODES: readonly string[] = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE'];

export interface ConnectionRecord {
  id: number;
  label: string;
  service: string;
  dst: string;
  dport: number;
  /** Local address and port (learned as soon as the kernel picked them; null if the socket died first). */
  src: string | null;
  sport: number | null;
  connected: boolean;
  /** Application bytes received in total (all of them before the reset when the outcome is "reset"). */
  appBytes: number;
  outcome: Outcome;
  /** Socket error code for "reset" and "error". */
  error: string | null;
  /** "connecting" or "established": when the error came. */
  errorPhase: 'connecting' | 'established' | null;
  /** Epoch milliseconds (sub-millisecond precision): connect() called, connected, first byte in, end. */
  tStart: number;
  tConnect: number | null;
  tFirstByte: number | null;
  tEnd: number;
}

export interface Distribution {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export interface LabelSummary {
  connections: number;
  connected: number;
  completed: number;
  reset: number;
  /** Resets while still connecting (ECONNREFUSED: the RST came in SYN-SENT). */
  resetWhileConnecting: number;
  timeout: number;
  closed: number;
  error: number;
  aborted: number;
  errorCodes: Record<string, number>;
  /** Connections that received at least one application byte. */
  withAppBytes: number;
  /** Reset before a single application byte arrived: the blocker won the race. */
  resetBeforeFirstByte: number;
  /** Reset, but only after some application bytes arrived. */
  resetAfterAppBytes: number;
  /** Application bytes that reached the client on connections that ended reset. */
  leakedBytes: { total: number; max: number };
  connectMs: Distribution;
  firstByteMs: Distribution;
  /** From connect() to the reset, for connections that ended reset. */
  resetMs: Distribution;
}

export interface LoadSummary {
  mode: 'poisson' | 'closed-loop';
  ratePerSecond: number | null;
  concurrency: number | null;
  connections: number;
  seconds: number;
  /** Connections started per second of the run. */
  achievedRate: number;
  /** Poisson arrivals that had to wait because --max-outstanding connections were open (0 = truly open-loop). */
  deferredStarts: number;
  total: LabelSummary;
  labels: Record<string, LabelSummary>;
}

function distribution(values: number[]): Distribution {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 1000) / 1000);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length > 0 ? sorted[sorted.length - 1]! : null),
  };
}

export function summariseLabel(records: readonly ConnectionRecord[]): LabelSummary {
  const s: LabelSummary = {
    connections: records.length,
    connected: 0,
    completed: 0,
    reset: 0,
    resetWhileConnecting: 0,
    timeout: 0,
    closed: 0,
    error: 0,
    aborted: 0,
    errorCodes: {},
    withAppBytes: 0,
    resetBeforeFirstByte: 0,
    resetAfterAppBytes: 0,
    leakedBytes: { total: 0, max: 0 },
    connectMs: distribution([]),
    firstByteMs: distribution([]),
    resetMs: distribution([]),
  };
  const connectMs: number[] = [];
  const firstByteMs: number[] = [];
  const resetMs: number[] = [];
  for (const r of records) {
    if (r.connected) s.connected++;
    s[r.outcome]++;
    if (r.error) s.errorCodes[r.error] = (s.errorCodes[r.error] ?? 0) + 1;
    if (r.appBytes > 0) s.withAppBytes++;
    if (r.tConnect !== null) connectMs.push(r.tConnect - r.tStart);
    if (r.tFirstByte !== null) firstByteMs.push(r.tFirstByte - r.tStart);
    if (r.outcome === 'reset') {
      if (r.errorPhase === 'connecting') s.resetWhileConnecting++;
      if (r.appBytes === 0) s.resetBeforeFirstByte++;
      else {
        s.resetAfterAppBytes++;
        s.leakedBytes.total += r.appBytes;
        s.leakedBytes.max = Math.max(s.leakedBytes.max, r.appBytes);
      }
      resetMs.push(r.tEnd - r.tStart);
    }
  }
  s.connectMs = distribution(connectMs);
  s.firstByteMs = distribution(firstByteMs);
  s.resetMs = distribution(resetMs);
  return s;
}

/** The summary line the client prints last: `{"summary": LoadSummary}`. */
export function parseLoadSummary(stdout: string): LoadSummary {
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{"summary"')) continue;
    return (JSON.parse(line) as { summary: LoadSummary }).summary;
  }
  throw new Error(`no summary line in the load client's output (last lines: ${lines.slice(-3).join(' | ').slice(0, 500)})`);
}

/** Per-connection lines (`{"conn": ConnectionRecord}`, printed with --per-connection or --events). */
export function parseConnectionRecords(stdout: string): ConnectionRecord[] {
  const out: ConnectionRecord[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('{"conn"')) out.push((JSON.parse(line) as { conn: ConnectionRecord }).conn);
  }
  return out;
}
