/**
 * The lab's load generator: opens TCP connections to the peer server's services and records, per connection,
 * whether it connected, how many application bytes arrived, and whether it completed, was reset or timed out.
 * Run it inside the client namespace:
 *
 *   ip netns exec NS node dist/test/bench/lab/load-client.js \
 *     --target blocked/banner/198.18.1.1/7001 --target allowed/banner/198.18.2.1/7001 \
 *     --connections 1000 --rate 200            # Poisson (open-loop) arrivals, 200 connections/s
 *     --connections 1000 --concurrency 50      # or 50 at a time (closed-loop)
 *
 * Connections go round-robin over the targets (repeat a target to weight it). stdout: with --events, a line per
 * connect and first byte as they happen; with --per-connection or --events, a `{"conn":...}` line per finished
 * connection; always a last line `{"summary":...}` (load-summary.ts). SIGTERM stops it early (open connections
 * count as "aborted") and still prints the summary.
 */
import { connect, isIPv6, type Socket } from 'node:net';
import {
  ArgReader,
  BANNER_LINE,
  BYE_LINE,
  isService,
  LabUsageError,
  LineSplitter,
  nowMs,
  QUIT_LINE,
  runMain,
  SeededRandom,
  type Service,
} from './lab-protocol.js';
import { RESET_CODES, summariseLabel, type ConnectionRecord, type LabelSummary, type LoadSummary, type Outcome } from './load-summary.js';

const USAGE = `usage: node load-client.js --target LABEL/SERVICE/HOST/PORT [--target ...] [options]
  --connections N        connections to open in total (default 100)
  --rate R               Poisson (open-loop) arrivals at R connections per second, or
  --concurrency C        C connections at a time, each replaced when it ends (closed-loop); default C = 1
  --timeout-ms N         a connection not finished N ms after its hold time counts as "timeout" (default 3000)
  --hold-ms N            keep each connection open N ms after connecting before saying QUIT (default 0)
  --send-interval-ms N   "blocked client keeps sending": write a DATA line every N ms while connected
  --source A[,B...]      local addresses to bind, round-robin per family (default: the kernel chooses)
  --max-outstanding N    Poisson: at most N open connections; later arrivals wait (counted) (default 4000)
  --seed N               seed of the Poisson arrivals (default 1)
  --per-connection       a {"conn":...} line per finished connection
  --events               also a line per connect and first byte, as they happen`;

interface Target {
  label: string;
  service: Service;
  host: string;
  port: number;
}

interface ClientConfig {
  targets: Target[];
  connections: number;
  rate: number | null;
  concurrency: number;
  timeoutMs: number;
  holdMs: number;
  sendIntervalMs: number;
  sourcesV4: string[];
  sourcesV6: string[];
  maxOutstanding: number;
  seed: number;
  perConnection: boolean;
  events: boolean;
}

function parseTarget(text: string): Target {
  const parts = text.split('/');
  if (parts.length !== 4) throw new LabUsageError(`--target "${text}": expected LABEL/SERVICE/HOST/PORT`, USAGE);
  const [label, service, host, portText] = parts as [string, string, string, string];
  const port = Number(portText);
  if (!isService(service)) throw new LabUsageError(`--target "${text}": unknown service "${service}"`, USAGE);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LabUsageError(`--target "${text}": bad port`, USAGE);
  if (label.length === 0 || host.length === 0) throw new LabUsageError(`--target "${text}": empty label or host`, USAGE);
  return { label, service, host, port };
}

function parseConfig(argv: readonly string[]): ClientConfig | null {
  const flags = ['per-connection', 'events', 'help'];
  const args = new ArgReader(argv, flags, USAGE);
  args.rejectUnknown([...flags, 'target', 'connections', 'rate', 'concurrency', 'timeout-ms', 'hold-ms', 'send-interval-ms',
    'source', 'max-outstanding', 'seed']);
  if (args.flag('help')) return null;
  const targets = args.all('target').map(parseTarget);
  if (targets.length === 0) throw new LabUsageError('at least one --target is needed', USAGE);
  const rate = args.string('rate') === undefined ? null : args.number('rate', 0, 0.001);
  if (rate !== null && args.string('concurrency') !== undefined) throw new LabUsageError('--rate and --concurrency exclude each other', USAGE);
  const sources = args.all('source').flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  return {
    targets,
    connections: Math.floor(args.number('connections', 100, 1)),
    rate,
    concurrency: Math.floor(args.number('concurrency', 1, 1)),
    timeoutMs: args.number('timeout-ms', 3000, 1),
    holdMs: args.number('hold-ms', 0, 0),
    sendIntervalMs: args.number('send-interval-ms', 0, 0),
    sourcesV4: sources.filter((s) => !isIPv6(s)),
    sourcesV6: sources.filter((s) => isIPv6(s)),
    maxOutstanding: Math.floor(args.number('max-outstanding', 4000, 1)),
    seed: Math.floor(args.number('seed', 1, 0)),
    perConnection: args.flag('per-connection') || args.flag('events'),
    events: args.flag('events'),
  };
}

function print(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** One connection's life, from connect() to its outcome. */
class Connection {
  readonly record: ConnectionRecord;
  private socket: Socket;
  private readonly lines = new LineSplitter();
  private finished = false;
  private quitSent = false;
  private greeted = false;
  private deadline: NodeJS.Timeout | undefined;
  private hold: NodeJS.Timeout | undefined;
  private sender: NodeJS.Timeout | undefined;
  private dataCounter = 0;

  constructor(
    id: number,
    private readonly target: Target,
    localAddress: string | undefined,
    private readonly cfg: ClientConfig,
    private readonly onDone: (c: Connection) => void,
  ) {
    this.record = {
      id,
      label: target.label,
      service: target.service,
      dst: target.host,
      dport: target.port,
      src: null,
      sport: null,
      connected: false,
      appBytes: 0,
      outcome: 'timeout',
      error: null,
      errorPhase: null,
      tStart: nowMs(),
      tConnect: null,
      tFirstByte: null,
      tEnd: 0,
    };
    const socket = connect({ host: target.host, port: target.port, localAddress, noDelay: true });
    this.socket = socket;
    // The kernel binds the local port when connect(2) runs (a tick after net.connect): read it then, since a
    // connection reset while connecting has no socket left to ask afterwards.
    setImmediate(() => this.learnLocal());
    this.deadline = setTimeout(() => this.finish('timeout', null), cfg.holdMs + cfg.timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => this.onConnect());
    socket.on('data', (chunk: string) => this.onData(chunk));
    // The peer server never closes before its BYE (or, on idle, before our QUIT). An end-of-file earlier is a
    // reset: Linux sometimes hands an accepted RST to the application as EOF (seen in the lab with no FIN on the
    // wire, when the RST lands right after data). Counted as a reset with the code "EOF", so it stays visible.
    socket.on('end', () => (this.quitSent && this.greeted ? this.finish('completed', null) : this.finish('reset', 'EOF')));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      this.finish(RESET_CODES.includes(code) ? 'reset' : 'error', code);
    });
    socket.on('close', () => this.finish('closed', null));
  }

  private learnLocal(): void {
    if (this.record.sport !== null) return;
    const port = this.socket.localPort;
    if (port !== undefined) {
      this.record.sport = port;
      this.record.src = this.socket.localAddress ?? null;
    }
  }

  private onConnect(): void {
    const r = this.record;
    r.connected = true;
    r.tConnect = nowMs();
    this.learnLocal();
    if (this.cfg.events) print({ event: 'connected', id: r.id, label: r.label, src: r.src, sport: r.sport, t: r.tConnect });
    const service = this.target.service;
    // Services where the client does not wait for anything before its QUIT count as greeted from the start.
    if (service === 'chatty' || service === 'idle') this.greeted = true;
    if (service === 'reqresp') this.socket.write(`REQ ${r.id}\n`);
    if (this.cfg.sendIntervalMs > 0) {
      this.sender = setInterval(() => {
        if (this.socket.writable) this.socket.write(`DATA ${++this.dataCounter}\n`);
      }, this.cfg.sendIntervalMs);
    }
    if (service === 'chatty' || service === 'idle') this.hold = setTimeout(() => this.quit(), this.cfg.holdMs);
  }

  private onData(chunk: string): void {
    const r = this.record;
    if (r.tFirstByte === null) {
      r.tFirstByte = nowMs();
      if (this.cfg.events) print({ event: 'first-byte', id: r.id, label: r.label, t: r.tFirstByte });
    }
    r.appBytes += Buffer.byteLength(chunk);
    for (const line of this.lines.push(chunk)) {
      const answered = line === BANNER_LINE || line.startsWith('OK REQ ');
      if (answered && !this.greeted) {
        this.greeted = true;
        this.hold = setTimeout(() => this.quit(), this.cfg.holdMs);
      }
      if (line === BYE_LINE) this.socket.end();
    }
  }

  private quit(): void {
    if (this.finished || !this.socket.writable) return;
    this.quitSent = true;
    this.socket.write(`${QUIT_LINE}\n`);
  }

  /** The first outcome wins: later events of the same socket (close after error) change nothing. */
  finish(outcome: Outcome, error: string | null): void {
    if (this.finished) return;
    this.finished = true;
    const r = this.record;
    r.tEnd = nowMs();
    r.outcome = outcome;
    r.error = error;
    if (error !== null) r.errorPhase = r.connected ? 'established' : 'connecting';
    clearTimeout(this.deadline);
    clearTimeout(this.hold);
    clearInterval(this.sender);
    if (outcome !== 'completed' && outcome !== 'closed') this.socket.destroy();
    this.onDone(this);
  }
}

class LoadRun {
  private started = 0;
  private finishedCount = 0;
  private open = new Set<Connection>();
  private readonly records: ConnectionRecord[] = [];
  private readonly random: SeededRandom;
  private deferredStarts = 0;
  private readonly t0 = nowMs();
  private stopping = false;
  private resolveDone: (() => void) | undefined;
  private nextArrival: number;
  private pendingArrivals = 0;
  private arrivalTimer: NodeJS.Timeout | undefined;

  constructor(private readonly cfg: ClientConfig) {
    this.random = new SeededRandom(cfg.seed);
    this.nextArrival = this.t0;
  }

  run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    if (this.cfg.rate === null) {
      for (let i = 0; i < Math.min(this.cfg.concurrency, this.cfg.connections); i++) this.startOne();
    } else {
      this.scheduleArrivals();
    }
    return done;
  }

  /** Open-loop: arrival times come from the Poisson process alone, never from how fast connections finish. */
  private scheduleArrivals(): void {
    const now = nowMs();
    let arrived = 0;
    while (this.started + this.pendingArrivals < this.cfg.connections && this.nextArrival <= now) {
      this.pendingArrivals++;
      arrived++;
      this.nextArrival += this.random.exponentialMs(this.cfg.rate!);
    }
    this.drainPending();
    // Arrivals of this tick still queued must wait for a free slot: counted once each.
    this.deferredStarts += Math.min(arrived, this.pendingArrivals);
    if (this.started + this.pendingArrivals < this.cfg.connections && !this.stopping) {
      this.arrivalTimer = setTimeout(() => this.scheduleArrivals(), Math.max(0, this.nextArrival - nowMs()));
    }
  }

  private drainPending(): void {
    while (this.pendingArrivals > 0 && !this.stopping) {
      if (this.open.size >= this.cfg.maxOutstanding) return;
      this.pendingArrivals--;
      this.startOne();
    }
  }

  private startOne(): void {
    const id = this.started++;
    const cfg = this.cfg;
    const target = cfg.targets[id % cfg.targets.length]!;
    const pool = isIPv6(target.host) ? cfg.sourcesV6 : cfg.sourcesV4;
    const local = pool.length > 0 ? pool[Math.floor(id / cfg.targets.length) % pool.length] : undefined;
    const c = new Connection(id, target, local, cfg, (done) => this.onDone(done));
    this.open.add(c);
  }

  private onDone(c: Connection): void {
    this.open.delete(c);
    this.finishedCount++;
    this.records.push(c.record);
    if (this.cfg.perConnection) print({ conn: c.record });
    if (this.stopping) return;
    if (this.cfg.rate === null) {
      if (this.started < this.cfg.connections) this.startOne();
    } else {
      this.drainPending();
    }
    if (this.finishedCount === this.cfg.connections) this.resolveDone?.();
  }

  /** SIGTERM: no new connections; open ones end as "aborted". */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.arrivalTimer);
    for (const c of [...this.open]) c.finish('aborted', null);
    this.resolveDone?.();
  }

  summary(): LoadSummary {
    const seconds = (nowMs() - this.t0) / 1000;
    const byLabel = new Map<string, ConnectionRecord[]>();
    for (const r of this.records) {
      const list = byLabel.get(r.label) ?? [];
      list.push(r);
      byLabel.set(r.label, list);
    }
    const labels: Record<string, LabelSummary> = {};
    for (const [label, list] of byLabel) labels[label] = summariseLabel(list);
    return {
      mode: this.cfg.rate === null ? 'closed-loop' : 'poisson',
      ratePerSecond: this.cfg.rate,
      concurrency: this.cfg.rate === null ? this.cfg.concurrency : null,
      connections: this.records.length,
      seconds,
      achievedRate: seconds > 0 ? this.started / seconds : 0,
      deferredStarts: this.deferredStarts,
      total: summariseLabel(this.records),
      labels,
    };
  }
}

async function main(): Promise<number> {
  const cfg = parseConfig(process.argv.slice(2));
  if (cfg === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const load = new LoadRun(cfg);
  const stop = (): void => load.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await load.run();
  // stdout is a pipe, written asynchronously: exit only once everything before and including the summary is
  // out (a bare process.exit() would cut thousands of per-connection lines, and the summary with them).
  // Sockets of aborted connections may still be closing: the figures are out, so leave then.
  process.stdout.write(`${JSON.stringify({ summary: load.summary() })}\n`, () => process.exit(0));
  return 0;
}

runMain(main);
