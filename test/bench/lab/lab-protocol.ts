/**
 * The tiny line protocol spoken between the lab's peer server and its load client. Four services, one port each,
 * chosen to cover the races a bypass blocker faces:
 *
 * - banner: the server speaks first, the instant it accepts (SMTP/FTP/SSH-like): the hardest race, since the
 *   first application byte leaves the server one round trip after the SYN.
 * - reqresp: the client speaks first (HTTP-like): "REQ n" gets "OK n <payload>".
 * - chatty: long-lived, the server sends a line every interval for as long as the connection lasts.
 * - idle: long-lived, nobody says anything (a blocker must learn the sequence numbers some other way).
 *
 * On every service a line "QUIT" gets "BYE" (except idle, which stays silent) and the server ends the connection.
 */

export const SERVICES = ['banner', 'reqresp', 'chatty', 'idle'] as const;
export type Service = (typeof SERVICES)[number];

export const DEFAULT_PORTS: Readonly<Record<Service, number>> = { banner: 7001, reqresp: 7002, chatty: 7003, idle: 7004 };

export const BANNER_LINE = '220 offpath-lab banner service ready';
export const QUIT_LINE = 'QUIT';
export const BYE_LINE = 'BYE';

export function isService(s: string): s is Service {
  return (SERVICES as readonly string[]).includes(s);
}

/** `OK <request> <payload>`: the payload makes "bytes leaked before the reset" measurable. */
export function responseLine(request: string, payloadBytes: number): string {
  return `OK ${request} ${'r'.repeat(Math.max(0, payloadBytes))}`;
}

/** Splits a stream into lines; keeps the unterminated rest for the next chunk. */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    // A peer that never sends a newline must not grow memory without bound.
    if (this.rest.length > 1 << 16) this.rest = this.rest.slice(-(1 << 16));
    return lines;
  }
}

/** Wall-clock milliseconds since the epoch with sub-millisecond precision (comparable across processes). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Small deterministic PRNG (mulberry32), so a seeded run's arrival times repeat. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in (0, 1]. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967296;
  }

  /** Exponentially distributed gap for a Poisson process of `ratePerSecond`, in milliseconds. */
  exponentialMs(ratePerSecond: number): number {
    return (-Math.log(this.next()) / ratePerSecond) * 1000;
  }
}

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Tiny argv reader shared by the lab programs: `--name value`, `--name=value`, repeated names collect. */
export class ArgReader {
  private readonly values = new Map<string, string[]>();
  private readonly flags = new Set<string>();
  private readonly usage: string;

  constructor(argv: readonly string[], flagNames: readonly string[], usage: string) {
    this.usage = usage;
    for (let i = 0; i < argv.length; i++) {
      const raw = argv[i]!;
      if (!raw.startsWith('--')) throw new LabUsageError(`unexpected argument "${raw}"`, usage);
      const eq = raw.indexOf('=');
      const name = eq > 0 ? raw.slice(2, eq) : raw.slice(2);
      if (flagNames.includes(name)) {
        if (eq > 0) throw new LabUsageError(`--${name} takes no value`, usage);
        this.flags.add(name);
        continue;
      }
      const value = eq > 0 ? raw.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new LabUsageError(`--${name} needs a value`, usage);
      const list = this.values.get(name) ?? [];
      list.push(value);
      this.values.set(name, list);
    }
  }

  flag(name: string): boolean {
    return this.flags.has(name);
  }

  all(name: string): string[] {
    return this.values.get(name) ?? [];
  }

  string(name: string, fallback?: string): string | undefined {
    const v = this.values.get(name);
    return v ? v[v.length - 1] : fallback;
  }

  number(name: string, fallback: number, min = 0): number {
    const v = this.string(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new LabUsageError(`--${name}: expected a number >= ${min}, got "${v}"`, this.usage);
    return n;
  }

  /** Every option given, so a program can reject names it does not know. */
  names(): string[] {
    return [...this.values.keys(), ...this.flags];
  }

  rejectUnknown(known: readonly string[]): void {
    for (const n of this.names()) if (!known.includes(n)) throw new LabUsageError(`unknown option --${n}`, this.usage);
  }
}

export class LabUsageError extends Error {
  constructor(message: string, usage: string) {
    super(`${message}\n\n${usage}`);
    this.name = 'LabUsageError';
  }
}

/** Runs a lab program's main: usage errors exit 2 with the text on stderr, anything else exits 70. */
export function runMain(main: () => Promise<number> | number): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (err: unknown) => {
        process.stderr.write(`${err instanceof LabUsageError ? err.message : ((err as Error)?.stack ?? String(err))}\n`);
        process.exitCode = err instanceof LabUsageError ? 2 : 70;
      },
    );
}
