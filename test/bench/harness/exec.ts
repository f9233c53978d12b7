/**
 * Runs a measured command: wall time from spawn to exit, stdout kept (small JSON outputs), the tail of stderr
 * kept for error messages, optional pinning to one CPU (taskset) and peak RSS from GNU time when it exists.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';

/** Full path of an executable found on PATH (or given as a path), or undefined. */
export function findExecutable(name: string): string | undefined {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** First line of `cmd --version`-style output, for the record; undefined when it cannot run. */
export function toolVersion(cmd: string, args: string[] = ['--version']): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return undefined;
  return `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.trim().length > 0)?.trim();
}

export interface TimedRunOptions {
  /** Pin to this CPU with taskset (ignored when taskset is missing). */
  cpu?: number | undefined;
  timeoutSeconds: number;
  /** Environment additions. */
  env?: Record<string, string>;
}

export interface TimedRun {
  wallSeconds: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  /** The last few KiB of stderr. */
  stderrTail: string;
  /** Peak resident set of the command (GNU time), or null when not measurable. */
  maxRssBytes: number | null;
}

const TASKSET = findExecutable('taskset');
const GNU_TIME = findExecutable('/usr/bin/time');
const STDERR_TAIL_BYTES = 8192;

export async function runTimed(cmd: string, args: string[], options: TimedRunOptions): Promise<TimedRun> {
  // Wrappers exec the real command, so they add a millisecond or two of start-up and nothing per packet.
  let argv = [cmd, ...args];
  let rssFile: string | undefined;
  let rssDir: string | undefined;
  if (GNU_TIME) {
    rssDir = mkdtempSync(join(tmpdir(), 'offpath-bench-rss-'));
    rssFile = join(rssDir, 'rss');
    argv = [GNU_TIME, '-f', '%M', '-o', rssFile, ...argv];
  }
  if (options.cpu !== undefined && TASKSET) argv = [TASKSET, '-c', String(options.cpu), ...argv];

  const started = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-STDERR_TAIL_BYTES);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutSeconds * 1000);

  const [exitCode, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => resolve([code, sig]));
  }).finally(() => clearTimeout(timer));
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  let maxRssBytes: number | null = null;
  if (rssFile && rssDir) {
    try {
      // GNU time writes "Command exited with non-zero status N" before the figure when the command fails.
      const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
      const kib = Number(lines[lines.length - 1]);
      if (Number.isFinite(kib) && kib > 0) maxRssBytes = kib * 1024;
    } catch {
      // the command was killed before time could write
    }
    rmSync(rssDir, { recursive: true, force: true });
  }
  return {
    wallSeconds,
    exitCode,
    signal,
    timedOut,
    stdout: Buffer.concat(out).toString('utf8'),
    stderrTail: err,
    maxRssBytes,
  };
}

/** Runs a helper command (not measured) and returns stdout; throws with its stderr when it fails. */
export function runChecked(cmd: string, args: string[], timeoutSeconds = 600): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutSeconds * 1000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${r.stderr.trim().slice(-2000)}`);
  }
  return r.stdout;
}

export const hasTaskset = TASKSET !== undefined;
export const hasGnuTime = GNU_TIME !== undefined;
