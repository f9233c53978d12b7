/**
 * Real Redis servers for tests and benchmarks: `redis-server` on a free loopback port, in its own temp directory,
 * with the persistence asked for; plus Sentinel (the same binary with --sentinel) and a small Redis Cluster.
 *
 * Only processes started here are ever signalled, by their PID. Every server is also killed when the process exits,
 * so a crashed test file leaves no server behind; still, call stop() in afterAll.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';

export type Persistence = 'none' | 'aof-always' | 'aof-everysec';

export interface RedisServerOptions {
  /** Default 'none' (no RDB, no AOF: a restart comes back empty). */
  readonly persistence?: Persistence;
  /** More configuration as command-line directives, e.g. ['--maxmemory', '1gb']. */
  readonly args?: readonly string[];
  /** Serve TLS only (plain port off), with these PEM files. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string; readonly clientAuth?: boolean };
  /** Require this password (requirepass). */
  readonly password?: string;
  /** Reuse this port (restart of a known server). */
  readonly port?: number;
  /** Reuse this directory. */
  readonly dir?: string;
}

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT (rediss:// with TLS; no password in it). */
  readonly url: string;
  /** PID of the running server (changes with restart()). */
  readonly pid: number;
  readonly dir: string;
  /** Sends a signal to the server (SIGKILL, SIGSTOP, SIGCONT...). */
  kill(signal: NodeJS.Signals): void;
  /** Starts the server again on the same port and directory (after kill or stop); resolves when it answers. */
  restart(): Promise<void>;
  /** Stops the server (continuing it first if stopped) and waits for its exit. Keeps the directory. */
  stop(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
  /** Runs redis-cli against it; resolves with stdout. */
  cli(...args: string[]): Promise<string>;
}

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) {
    try {
      if (child.pid !== undefined && child.exitCode === null) {
        process.kill(child.pid, 'SIGCONT');
        process.kill(child.pid, 'SIGKILL');
      }
    } catch {
      // already gone
    }
  }
});

/** A TCP port free on 127.0.0.1 now (and, when `busPort`, port + 10000 too: the cluster bus). */
export async function freePort(busPort = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenFree(0);
    if (!busPort) return port;
    if (port + 10000 <= 65535 && (await listenFree(port + 10000).then(() => true, () => false))) return port;
  }
  throw new Error('no free port pair found');
}

function listenFree(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const p = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(p));
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  // A free port can be taken by another test file between the check and redis binding it: try again then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (options.port !== undefined || attempt >= 3 || !/Address already in use|exited/.test(String(err))) throw err;
    }
  }
}

async function startOnce(options: RedisServerOptions): Promise<RedisServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'offpath-redis-'));
  const port = options.port ?? (await freePort(options.args?.includes('--cluster-enabled') ?? false));
  const persistence = options.persistence ?? 'none';
  const args = [
    '--bind', '127.0.0.1',
    '--protected-mode', 'no',
    '--daemonize', 'no',
    '--dir', dir,
    '--logfile', join(dir, 'redis.log'),
    '--save', '',
    '--appendonly', persistence === 'none' ? 'no' : 'yes',
    '--appendfsync', persistence === 'aof-everysec' ? 'everysec' : 'always',
  ];
  if (options.tls) {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile,
      '--tls-ca-cert-file', options.tls.caFile, '--tls-auth-clients', options.tls.clientAuth ? 'yes' : 'no');
  } else {
    args.push('--port', String(port));
  }
  if (options.password) args.push('--requirepass', options.password);
  args.push(...(options.args ?? []));
  let child: ChildProcess | null = null;

  const launch = async (): Promise<void> => {
    const c = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    started.add(c);
    c.once('exit', () => started.delete(c));
    child = c;
    await waitReady(port, c, join(dir, 'redis.log'), options.tls ? 'tls' : 'plain', options.password);
  };
  const waitExit = async (): Promise<void> => {
    const c = child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => c.once('exit', () => resolve()));
  };
  const stop = async (): Promise<void> => {
    const c = child as ChildProcess | null;
    if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      process.kill(c.pid, 'SIGCONT');
      process.kill(c.pid, 'SIGKILL');
    }
    await waitExit();
  };
  await launch();
  const cliArgs = (): string[] => {
    const a = ['-h', '127.0.0.1', '-p', String(port)];
    if (options.password) a.push('--no-auth-warning', '-a', options.password);
    if (options.tls) a.push('--tls', '--cacert', options.tls.caFile, '--cert', options.tls.certFile, '--key', options.tls.keyFile);
    return a;
  };
  return {
    port,
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? -1;
    },
    dir,
    kill(signal) {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
    },
    async restart() {
      await waitExit();
      await launch();
    },
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    cli: (...a) => runCli([...cliArgs(), ...a]),
  };
}

export function runCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args as string[], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Waits until the server answers PING (or fails with its log when it exits first). */
async function waitReady(port: number, child: ChildProcess, logFile: string, mode: 'plain' | 'tls', password?: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}):\n${log}`);
    }
    if (await pings(port, mode, password)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pings(port: number, mode: 'plain' | 'tls', password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = mode === 'tls'
      ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : new Socket().connect(port, '127.0.0.1');
    let data = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (d: Buffer) => {
      data += d.toString();
      if (data.includes('+PONG')) done(true);
      else if (data.includes('-LOADING') || data.includes('-ERR') || data.includes('-NOAUTH')) done(false);
    });
    socket.once(mode === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.write(password ? `AUTH ${password}\r\nPING\r\n` : 'PING\r\n');
    });
  });
}

// ------------------------------------------------------------------------------------------------ sentinel

export interface RedisSentinel {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
  cli(...args: string[]): Promise<string>;
}

/** A sentinel monitoring `masterPort` as master `name` (quorum 1, 1 s down-after, for fast tests). */
export async function startRedisSentinel(masterPort: number, name: string, options: { downAfterMs?: number } = {}): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'offpath-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode no',
    'daemonize no',
    `dir ${dir}`,
    `logfile ${join(dir, 'sentinel.log')}`,
    `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
    `sentinel failover-timeout ${name} 5000`,
    `sentinel parallel-syncs ${name} 1`,
    '',
  ].join('\n'));
  // Debian's redis-sentinel is the same program as redis-server; --sentinel needs no extra package.
  const binary = existsSync('/usr/bin/redis-sentinel') ? '/usr/bin/redis-sentinel' : REDIS_SERVER;
  const child = spawn(binary, binary === REDIS_SERVER ? [conf, '--sentinel'] : [conf], { stdio: 'ignore' });
  started.add(child);
  child.once('exit', () => started.delete(child));
  await waitReady(port, child, join(dir, 'sentinel.log'), 'plain');
  return {
    port,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        process.kill(child.pid!, 'SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    cli: (...a) => runCli(['-h', '127.0.0.1', '-p', String(port), ...a]),
  };
}

// ------------------------------------------------------------------------------------------------ cluster

export interface RedisClusterServers {
  readonly nodes: readonly RedisServer[];
  stop(): Promise<void>;
}

/** `masters` cluster-enabled servers joined into one cluster (no replicas), ready when every slot is served. */
export async function startRedisCluster(masters = 3): Promise<RedisClusterServers> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
    }
    await runCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      while (!(await node.cli('cluster', 'info')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('the test cluster did not reach cluster_state:ok');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    for (const n of nodes) await n.destroy();
    throw err;
  }
  return {
    nodes,
    async stop() {
      for (const n of nodes) await n.destroy();
    },
  };
}
