/**
 * Processes the API benchmark runs: a redis-server on a free loopback port (no persistence), the offpath API
 * (node dist/src/cli/main.js api), and a bare Fastify server answering a constant. Each is killed by its own PID
 * when the benchmark ends (or exits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface Proc {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

function track(child: ChildProcess, port: number, cleanup: () => void = () => undefined): Proc {
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      children.delete(child);
      cleanup();
    },
  };
}

async function waitFor(check: () => Promise<boolean>, what: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up`);
}

export async function startRedis(): Promise<Proc & { url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'offpath-api-bench-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], { stdio: 'ignore' });
  const proc = track(child, port, () => rmSync(dir, { recursive: true, force: true }));
  const { Redis } = await import('ioredis');
  await waitFor(async () => {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } finally {
      c.disconnect();
    }
  }, 'redis-server', child);
  return { ...proc, url: `redis://127.0.0.1:${port}` };
}

/** Node flags for the API process only, e.g. `OFFPATH_BENCH_API_NODE_FLAGS=--cpu-prof` to profile it. */
const API_NODE_FLAGS = (process.env.OFFPATH_BENCH_API_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

export async function startApi(cli: string, redisUrl: string, extra: string[] = []): Promise<Proc & { url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...API_NODE_FLAGS, cli, 'api', '--redis', redisUrl, '--listen', `127.0.0.1:${port}`, '--rate-limit', '1000000', '--log-level', 'error', ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 'offpath api', child, 120_000);
  return { ...track(child, port), url };
}

export async function startBare(script: string): Promise<Proc & { url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [script, String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/`)).status === 200, 'bare fastify', child);
  return { ...track(child, port), url };
}

/** Peak and current resident memory of a process (Linux /proc), in bytes. */
export function memoryOf(pid: number): { rss: number; peakRss: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
  } catch {
    return { rss: 0, peakRss: 0 };
  }
}

/** CPU time (user + system) a process has used so far, in seconds (Linux /proc; clock ticks of 1/100 s). */
export function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
