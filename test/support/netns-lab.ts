/**
 * A throw-away network for sensor tests and benchmarks, built from Linux network namespaces (needs root):
 *
 *   client ns                switch ns (bridge br0)                    server ns
 *   eth0 ───── veth ───── p-client ─┬─ br0 ─┬─ p-server ───── veth ───── eth0
 *                                    │       └─ p-inj ──── veth ──── inj ┐
 *                                    │                                    ├ sensor ns
 *          tc ingress mirror of p-client and p-server ──▶ p-mon ── veth ── mon ┘
 *
 * `mon` receives a one-way copy of everything that enters the bridge from the client or the server (the
 * equivalent of a SPAN port); `inj` is a bridge port from which the sensor injects its resets. Frames the
 * sensor sends on `inj` are not mirrored (they enter on p-inj), as on a real switch whose SPAN session copies
 * the two monitored ports only.
 *
 * Every name includes the process id and a counter, because vitest runs test files in parallel processes.
 * Interfaces are created directly inside their namespaces, so nothing is ever left in the root namespace:
 * deleting the four namespaces removes every veth and the bridge.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { OffpathError } from '../../src/util/errors.js';

export type LabNode = 'client' | 'server' | 'switch' | 'sensor';

export const LAB_NODES: readonly LabNode[] = ['client', 'server', 'switch', 'sensor'];

/** A lab command failed: the message names the namespace, the command and its stderr. */
export class LabError extends OffpathError {
  constructor(message: string, hint = 'network-namespace labs need root, iproute2 (ip, tc, bridge) and ethtool') {
    super('lab', message, hint);
    this.name = 'LabError';
  }
}

export interface LabOptions {
  /** IPv4 addresses of the client (198.18.0.10 and up). Default 4. */
  clientAddresses?: number;
  /** Server addresses that tests put on the intel block list (198.18.1.1 and up). Default 4. */
  blockedAddresses?: number;
  /** Server addresses that stay allowed (198.18.2.1 and up). Default 4. */
  allowedAddresses?: number;
  /** Label included in the names, to tell labs apart in `ip netns list`. Default "lab". */
  tag?: string;
}

/** Interface names, each inside its own namespace. */
export const LAB_IFACES = {
  /** client ns */
  client: 'eth0',
  /** server ns */
  server: 'eth0',
  /** sensor ns: the mirror (SPAN) port */
  mon: 'mon',
  /** sensor ns: the injection port (a bridge port at the other end) */
  inj: 'inj',
  /** switch ns */
  bridge: 'br0',
  clientPort: 'p-client',
  serverPort: 'p-server',
  injPort: 'p-inj',
  monPort: 'p-mon',
} as const;

export interface LabAddresses {
  /** All on one /15 (IPv4) or /48 (IPv6) link: no routing, only ARP / neighbour discovery. */
  clientV4: string[];
  clientV6: string[];
  blockedV4: string[];
  blockedV6: string[];
  allowedV4: string[];
  allowedV6: string[];
}

export interface LabMacs {
  client: string;
  server: string;
  /** Source MAC of every frame the sensor injects (when it uses its own MAC). */
  inj: string;
  mon: string;
  clientPort: string;
  serverPort: string;
  injPort: string;
  bridge: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /** Environment additions. */
  env?: Record<string, string>;
  cwd?: string;
  /** Keep at most this many characters of each output stream (the newest). Default 4 MiB. */
  keepChars?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started inside a lab namespace; killed by PID when the lab is destroyed. */
export interface LabProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  /** Everything written so far (newest `keepChars`). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first complete line (already written or future) that satisfies `match`. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number, stream?: 'stdout' | 'stderr'): Promise<string>;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  readonly running: boolean;
  signal(sig: NodeJS.Signals): void;
  /** Sends `sig`, waits up to `graceMs`, then SIGKILL. */
  stop(sig?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

export interface Lab {
  /** Unique id inside the names: `<tag>-<pid>-<counter>`. */
  readonly id: string;
  /** Namespace name of each node. */
  readonly ns: Readonly<Record<LabNode, string>>;
  readonly ifaces: typeof LAB_IFACES;
  readonly addresses: LabAddresses;
  readonly macs: LabMacs;
  /** Runs a command inside a node's namespace; rejects with LabError when it exits non-zero. */
  exec(node: LabNode, cmd: string, args: readonly string[], timeoutMs?: number): Promise<ExecResult>;
  /** Starts a long-running command inside a node's namespace (tracked, killed on destroy). */
  spawn(node: LabNode, cmd: string, args: readonly string[], options?: SpawnOptions): LabProcess;
  /** Kills every tracked process and deletes every namespace. Idempotent; never throws. */
  destroy(): Promise<void>;
  readonly destroyed: boolean;
}

let labCounter = 0;
/** Namespaces of labs not yet destroyed, for the exit-time safety net. */
const liveNamespaces = new Set<string>();
const livePids = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run dies before its afterAll: only synchronous work is possible here.
  process.on('exit', () => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });
}

/** `op-<tag>-<pid>-<counter>-<node>`: the names createLab makes. */
const LAB_NAMESPACE = /^op-[A-Za-z0-9]+-(\d+)-\d+-(client|server|switch|sensor)$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes lab namespaces whose creating process is gone. The exit hook cannot run when a test worker is killed
 * by a signal, so every new lab first removes what dead runs left behind. Only names of this exact pattern, and
 * only when the pid in the name is not a live process; processes are never touched.
 */
export function sweepStaleLabs(): string[] {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (listed.status !== 0) return [];
  const removed: string[] = [];
  for (const line of listed.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = LAB_NAMESPACE.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    if (spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' }).status === 0) removed.push(name);
  }
  return removed;
}

const COMMAND_TIMEOUT_MS = 30_000;

function run(argv: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new LabError(`${argv.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new LabError(`${argv.join(' ')} exited with ${code ?? signal}: ${stderr.trim().slice(-2000)}`));
    });
  });
}

function nsArgv(ns: string, cmd: string, args: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, cmd, ...args];
}

class TrackedProcess implements LabProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  readonly exited: Promise<ExitStatus>;
  private out = '';
  private err = '';
  private isRunning = true;
  private readonly keep: number;
  private readonly waiters: { match: (l: string) => boolean; stream: 'stdout' | 'stderr'; done: (l: string) => void }[] = [];
  private partial = { stdout: '', stderr: '' };

  constructor(child: ChildProcess, label: string, keepChars: number) {
    if (child.pid === undefined) throw new LabError(`${label}: could not be started`);
    this.child = child;
    this.pid = child.pid;
    this.label = label;
    this.keep = keepChars;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.take('stdout', d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.take('stderr', d));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.isRunning = false;
        resolve({ code, signal });
      });
      child.on('error', () => {
        this.isRunning = false;
        resolve({ code: null, signal: null });
      });
    });
  }

  get running(): boolean {
    return this.isRunning;
  }

  stdout(): string {
    return this.out;
  }

  stderr(): string {
    return this.err;
  }

  private take(stream: 'stdout' | 'stderr', chunk: string): void {
    if (stream === 'stdout') this.out = (this.out + chunk).slice(-this.keep);
    else this.err = (this.err + chunk).slice(-this.keep);
    const text = this.partial[stream] + chunk;
    const lines = text.split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) {
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.stream === stream && w.match(line)) {
          this.waiters.splice(i, 1);
          w.done(line);
        }
      }
    }
  }

  waitForLine(match: (line: string) => boolean, timeoutMs: number, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
    const seen = (stream === 'stdout' ? this.out : this.err).split('\n');
    seen.pop(); // the incomplete last line
    const found = seen.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        stream,
        done: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new LabError(`${this.label}: no matching line on ${stream} within ${timeoutMs} ms ` +
          `(running: ${this.isRunning}); stderr tail: ${this.err.slice(-1500)}`, 'see the process output above'));
      }, timeoutMs);
      this.waiters.push(waiter);
      void this.exited.then(() => {
        // A process that has exited will never print the line: fail now rather than at the timeout.
        setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i < 0) return;
          this.waiters.splice(i, 1);
          clearTimeout(timer);
          reject(new LabError(`${this.label}: exited before printing the expected line on ${stream}; ` +
            `stderr tail: ${this.err.slice(-1500)}`, 'see the process output above'));
        }, 50);
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.isRunning) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // exited in between
    }
  }

  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<ExitStatus> {
    if (!this.isRunning) return this.exited;
    this.signal(sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}

class NetnsLab implements Lab {
  readonly id: string;
  readonly ns: Record<LabNode, string>;
  readonly ifaces = LAB_IFACES;
  readonly addresses: LabAddresses;
  macs: LabMacs = { client: '', server: '', inj: '', mon: '', clientPort: '', serverPort: '', injPort: '', bridge: '' };
  private readonly processes = new Set<TrackedProcess>();
  private created: string[] = [];
  private isDestroyed = false;

  constructor(options: LabOptions) {
    const tag = (options.tag ?? 'lab').replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 'lab';
    this.id = `${tag}-${process.pid}-${++labCounter}`;
    this.ns = {
      client: `op-${this.id}-client`,
      server: `op-${this.id}-server`,
      switch: `op-${this.id}-switch`,
      sensor: `op-${this.id}-sensor`,
    };
    this.addresses = planAddresses(options);
  }

  get destroyed(): boolean {
    return this.isDestroyed;
  }

  exec(node: LabNode, cmd: string, args: readonly string[], timeoutMs?: number): Promise<ExecResult> {
    if (this.isDestroyed) return Promise.reject(new LabError(`lab ${this.id} is destroyed`));
    return run(nsArgv(this.ns[node], cmd, args), timeoutMs);
  }

  spawn(node: LabNode, cmd: string, args: readonly string[], options: SpawnOptions = {}): LabProcess {
    if (this.isDestroyed) throw new LabError(`lab ${this.id} is destroyed`);
    const argv = nsArgv(this.ns[node], cmd, args);
    // `ip netns exec` execs the command after entering the namespace, so the PID is the command's own.
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
    });
    const label = `${node}: ${[cmd, ...args].join(' ').slice(0, 200)}`;
    const p = new TrackedProcess(child, label, options.keepChars ?? 4 << 20);
    this.processes.add(p);
    livePids.add(p.pid);
    void p.exited.then(() => livePids.delete(p.pid));
    return p;
  }

  /** Builds the topology; on any failure, tears down what was made and rethrows. */
  async build(): Promise<void> {
    try {
      for (const node of LAB_NODES) {
        await run(['ip', 'netns', 'add', this.ns[node]]);
        this.created.push(this.ns[node]);
        liveNamespaces.add(this.ns[node]);
      }
      await this.configureNamespaces();
      await this.createLinks();
      await this.configureSwitch();
      await this.configureHosts();
      await this.configureSensor();
      await this.readMacs();
    } catch (err) {
      await this.destroy();
      throw err;
    }
  }

  private ip(node: LabNode, args: readonly string[]): Promise<ExecResult> {
    return run(['ip', '-n', this.ns[node], ...args]);
  }

  private sysctl(node: LabNode, settings: readonly string[]): Promise<ExecResult> {
    return this.exec(node, 'sysctl', ['-q', '-w', ...settings]);
  }

  private async configureNamespaces(): Promise<void> {
    for (const node of LAB_NODES) await this.ip(node, ['link', 'set', 'lo', 'up']);
    // The switch and the sensor take no part in IP: no IPv6 router solicitations, DAD or MLD from their ports,
    // so the mirror carries only the client's and the server's traffic.
    for (const node of ['switch', 'sensor'] as const) {
      await this.sysctl(node, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    for (const node of ['client', 'server'] as const) {
      // Addresses are usable at once (no duplicate address detection delay).
      await this.sysctl(node, ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    }
  }

  private veth(aNode: LabNode, aName: string, bNode: LabNode, bName: string): Promise<ExecResult> {
    return run(['ip', 'link', 'add', aName, 'netns', this.ns[aNode], 'type', 'veth', 'peer', 'name', bName, 'netns', this.ns[bNode]]);
  }

  private async createLinks(): Promise<void> {
    const I = LAB_IFACES;
    await this.veth('client', I.client, 'switch', I.clientPort);
    await this.veth('server', I.server, 'switch', I.serverPort);
    await this.veth('sensor', I.inj, 'switch', I.injPort);
    await this.veth('sensor', I.mon, 'switch', I.monPort);
    // Checksum offload would leave partial checksums and GSO super-frames in what the mirror and tcpdump see.
    const ends: [LabNode, string][] = [
      ['client', I.client], ['server', I.server], ['sensor', I.inj], ['sensor', I.mon],
      ['switch', I.clientPort], ['switch', I.serverPort], ['switch', I.injPort], ['switch', I.monPort],
    ];
    for (const [node, name] of ends) {
      await this.exec(node, 'ethtool', ['-K', name, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    }
  }

  private async configureSwitch(): Promise<void> {
    const I = LAB_IFACES;
    await this.ip('switch', ['link', 'add', I.bridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    for (const port of [I.clientPort, I.serverPort, I.injPort]) {
      await this.ip('switch', ['link', 'set', port, 'master', I.bridge]);
    }
    for (const dev of [I.bridge, I.clientPort, I.serverPort, I.injPort, I.monPort]) {
      await this.ip('switch', ['link', 'set', dev, 'up']);
    }
    // The SPAN session: a copy of every frame entering from the client or the server goes out p-mon. One u32
    // match-all filter per port (the kernel here has no matchall/flower); more mirror targets would have to be
    // chained actions in that same filter, since a second match-all filter on the hook never runs.
    for (const port of [I.clientPort, I.serverPort]) {
      await run(['tc', '-n', this.ns.switch, 'qdisc', 'add', 'dev', port, 'clsact']);
      await run(['tc', '-n', this.ns.switch, 'filter', 'add', 'dev', port, 'ingress', 'protocol', 'all', 'prio', '1',
        'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'mirror', 'dev', I.monPort]);
    }
  }

  private async configureHosts(): Promise<void> {
    const A = this.addresses;
    const hosts: [LabNode, string[], string[]][] = [
      ['client', A.clientV4, A.clientV6],
      ['server', [...A.blockedV4, ...A.allowedV4], [...A.blockedV6, ...A.allowedV6]],
    ];
    for (const [node, v4, v6] of hosts) {
      const dev = node === 'client' ? LAB_IFACES.client : LAB_IFACES.server;
      for (const a of v4) await this.ip(node, ['addr', 'add', `${a}/15`, 'dev', dev]);
      for (const a of v6) await this.ip(node, ['-6', 'addr', 'add', `${a}/48`, 'dev', dev, 'nodad']);
      await this.ip(node, ['link', 'set', dev, 'up']);
    }
  }

  private async configureSensor(): Promise<void> {
    await this.ip('sensor', ['link', 'set', LAB_IFACES.mon, 'up']);
    await this.ip('sensor', ['link', 'set', LAB_IFACES.inj, 'up']);
  }

  private async readMacs(): Promise<void> {
    const mac = async (node: LabNode, dev: string): Promise<string> => {
      const { stdout } = await this.ip(node, ['-j', 'link', 'show', 'dev', dev]);
      const parsed = JSON.parse(stdout) as { address?: string }[];
      const address = parsed[0]?.address;
      if (!address) throw new LabError(`no MAC address for ${dev} in ${this.ns[node]}`);
      return address;
    };
    const I = LAB_IFACES;
    this.macs = {
      client: await mac('client', I.client),
      server: await mac('server', I.server),
      inj: await mac('sensor', I.inj),
      mon: await mac('sensor', I.mon),
      clientPort: await mac('switch', I.clientPort),
      serverPort: await mac('switch', I.serverPort),
      injPort: await mac('switch', I.injPort),
      bridge: await mac('switch', I.bridge),
    };
  }

  async destroy(): Promise<void> {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    const stopping = [...this.processes].map((p) => p.stop('SIGKILL', 2000));
    await Promise.all(stopping);
    for (const ns of this.created) {
      try {
        await run(['ip', 'netns', 'del', ns]);
      } catch {
        // already gone; nothing else can be done here
      }
      liveNamespaces.delete(ns);
    }
    this.created = [];
  }
}

/** Dotted IPv4 address `198.18.<third>.<fourth>`. */
function v4(third: number, fourth: number): string {
  return `198.18.${third}.${fourth}`;
}

function planAddresses(options: LabOptions): LabAddresses {
  const count = (n: number | undefined, d: number): number => {
    const v = n ?? d;
    if (!Number.isInteger(v) || v < 1 || v > 200) throw new LabError(`address count ${v} must be 1..200`, 'pass a small count');
    return v;
  };
  const clients = count(options.clientAddresses, 4);
  const blocked = count(options.blockedAddresses, 4);
  const allowed = count(options.allowedAddresses, 4);
  const range = (n: number, f: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => f(i));
  return {
    clientV4: range(clients, (i) => v4(0, 10 + i)),
    clientV6: range(clients, (i) => `2001:2::${(0x10 + i).toString(16)}`),
    blockedV4: range(blocked, (i) => v4(1, 1 + i)),
    blockedV6: range(blocked, (i) => `2001:2::1:${(1 + i).toString(16)}`),
    allowedV4: range(allowed, (i) => v4(2, 1 + i)),
    allowedV6: range(allowed, (i) => `2001:2::2:${(1 + i).toString(16)}`),
  };
}

/** Builds a lab; the caller must `destroy()` it (afterAll / finally). */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new LabError('network-namespace labs need root', 'run the tests or benchmarks as root');
  }
  installExitHook();
  sweepStaleLabs();
  const lab = new NetnsLab(options);
  await lab.build();
  return lab;
}
