/**
 * Starting and stopping the programs of a lab run: the peer server, the load client, tcpdump on a switch port
 * and the sensor itself, each inside its namespace and tracked by the lab (killed by PID on teardown).
 * Shared by the end-to-end tests (test/e2e/) and the blocking benchmark (test/bench/blocking/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, type Lab, type LabNode, type LabProcess } from '../../support/netns-lab.js';
import { nowMs } from './lab-protocol.js';
import { parseConnectionRecords, parseLoadSummary, type ConnectionRecord, type LoadSummary } from './load-summary.js';
import { Metrics } from './prometheus-text.js';

/** Compiled lab programs (tsc output), relative to the repository root. */
export function labScript(repoRoot: string, name: 'peer-server' | 'load-client' | 'inject-frame'): string {
  return join(repoRoot, 'dist', 'test', 'bench', 'lab', `${name}.js`);
}

export function sensorCli(repoRoot: string): string {
  return join(repoRoot, 'dist', 'src', 'cli', 'main.js');
}

/** What is missing to run a lab with the sensor, as sentences that say what to do; empty when ready. */
export function labPrerequisites(repoRoot: string, needSensor: boolean): string[] {
  const missing: string[] = [];
  for (const s of ['peer-server', 'load-client'] as const) {
    if (!existsSync(labScript(repoRoot, s))) missing.push(`${labScript(repoRoot, s)} is missing: build with npx tsc -p tsconfig.json`);
  }
  if (needSensor && !existsSync(sensorCli(repoRoot))) missing.push(`${sensorCli(repoRoot)} is missing: build with npx tsc -p tsconfig.json`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('network namespaces need root');
  return missing;
}

/**
 * The native capture addon, when it has been built (node-gyp output under native-bindings/build/), or undefined.
 * OFFPATH_NATIVE_ADDON may point at it explicitly.
 */
export function findNativeAddon(repoRoot: string): string | undefined {
  const explicit = process.env.OFFPATH_NATIVE_ADDON;
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  for (const dir of ['build/Release', 'build/Debug']) {
    const full = join(repoRoot, 'native-bindings', dir);
    if (!existsSync(full)) continue;
    const addon = readdirSync(full).find((f) => f.endsWith('.node'));
    if (addon) return join(full, addon);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Peer server
// ---------------------------------------------------------------------------------------------------------------

export interface PeerServer {
  process: LabProcess;
  ports: Record<string, number>;
  /** SIGTERM; resolves with the server's per-service statistics. */
  stop(): Promise<unknown>;
}

export async function startPeerServer(lab: Lab, repoRoot: string, args: string[] = []): Promise<PeerServer> {
  const p = lab.spawn('server', process.execPath, [labScript(repoRoot, 'peer-server'), ...args]);
  const ready = JSON.parse(await p.waitForLine((l) => l.startsWith('{"ready"'), 15_000)) as { ports: Record<string, number> };
  return {
    process: p,
    ports: ready.ports,
    stop: async () => {
      await p.stop('SIGTERM', 5000);
      const line = p.stdout().split('\n').reverse().find((l) => l.startsWith('{"stats"'));
      return line ? (JSON.parse(line) as { stats: unknown }).stats : null;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Load client
// ---------------------------------------------------------------------------------------------------------------

export interface LoadResult {
  summary: LoadSummary;
  records: ConnectionRecord[];
  exit: { code: number | null; signal: string | null };
}

/** Starts the load client in the client namespace (for runs that must be watched while they go). */
export function spawnLoadClient(lab: Lab, repoRoot: string, args: string[]): LabProcess {
  return lab.spawn('client', process.execPath, [labScript(repoRoot, 'load-client'), ...args], { keepChars: 256 << 20 });
}

/** Runs the load client to its end and reads its summary (and per-connection lines, if it printed them). */
export async function runLoadClient(lab: Lab, repoRoot: string, args: string[]): Promise<LoadResult> {
  const p = spawnLoadClient(lab, repoRoot, args);
  const exit = await p.exited;
  if (exit.code !== 0) {
    throw new LabError(`load client exited with ${exit.code ?? exit.signal}: ${p.stderr().slice(-2000)}`, 'see its stderr above');
  }
  return { summary: parseLoadSummary(p.stdout()), records: parseConnectionRecords(p.stdout()), exit };
}

/** `--target` arguments: one per address, round-robin in the order given. */
export function targets(label: string, service: string, addresses: readonly string[], port: number): string[] {
  return addresses.flatMap((a) => ['--target', `${label}/${service}/${a}/${port}`]);
}

// ---------------------------------------------------------------------------------------------------------------
// Wire capture (tcpdump on a switch port)
// ---------------------------------------------------------------------------------------------------------------

export interface WireCapture {
  file: string;
  /** SIGINT (tcpdump flushes and prints its counts); resolves with what it reported. */
  stop(): Promise<{ captured: number | null; droppedByKernel: number | null }>;
}

export async function startWireCapture(lab: Lab, node: LabNode, iface: string, file: string, filter = 'tcp'): Promise<WireCapture> {
  const p = lab.spawn(node, 'tcpdump', [
    '-i', iface, '-n', '-U', '--immediate-mode', '--time-stamp-precision=nano', '-s', '256', '-B', '16384', '-w', file, filter,
  ]);
  await p.waitForLine((l) => l.includes('listening on'), 15_000, 'stderr');
  return {
    file,
    stop: async () => {
      await p.stop('SIGINT', 10_000);
      const err = p.stderr();
      const num = (re: RegExp): number | null => {
        const m = re.exec(err);
        return m ? Number(m[1]) : null;
      };
      return { captured: num(/(\d+) packets? captured/), droppedByKernel: num(/(\d+) packets? dropped by kernel/) };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Sensor
// ---------------------------------------------------------------------------------------------------------------

export interface SensorOptions {
  intelFile: string;
  /** Omitted: the sensor's default backend. */
  backend?: string;
  metricsPort?: number;
  /** More sensor options (e.g. --dry-run, --filter). */
  extraArgs?: string[];
  /** Keep the sensor's production guards (see LAB_GUARD_ARGS); default false. */
  productionGuards?: boolean;
  /** How long /healthz may take to answer (a large intel file loads first). Default 30 s. */
  startupTimeoutMs?: number;
  name?: string;
}

export interface Sensor {
  process: LabProcess;
  metricsUrl: string;
  argv: string[];
  metrics(): Promise<Metrics>;
  /** SIGHUP: the sensor reloads its intel file. */
  reload(): number;
  /** SIGTERM; resolves with the final statistics object it prints on stdout (null if none). */
  stop(): Promise<{ exit: { code: number | null; signal: string | null }; finalStats: Record<string, unknown> | null }>;
}

export const DEFAULT_METRICS_PORT = 9464;

/**
 * A lab load is a deliberate surge of blocked connections at a handful of addresses: exactly what the circuit
 * breaker (drop to monitor mode on a surge) and the per-target reset rate cap exist to stop in production. The
 * lab measures blocking, not those guards, so it lifts them unless told otherwise.
 */
export const LAB_GUARD_ARGS: readonly string[] = ['--no-circuit-breaker', '--rst-rate-target', '1000000', '--rst-rate', '1000000'];

let ownMacArgs: string[] | undefined;

/**
 * The option that makes the sensor inject with its own source MAC: `--inj-mode own` in the sensor as built,
 * `--inj-mac own` in the first draft of its interface; read from its --help so that either works.
 */
export function ownMacOption(repoRoot: string): string[] {
  if (ownMacArgs) return ownMacArgs;
  const help = spawnSync(process.execPath, [sensorCli(repoRoot), 'sensor', '--help'], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  ownMacArgs = help.includes('--inj-mode ') ? ['--inj-mode', 'own'] : help.includes('--inj-mac ') ? ['--inj-mac', 'own'] : [];
  return ownMacArgs;
}

/** Prometheus text from inside the sensor namespace (the sensor binds to that namespace's loopback). */
export async function fetchText(lab: Lab, url: string, maxSeconds = 5): Promise<string> {
  const { stdout } = await lab.exec('sensor', 'curl', ['-sS', '--fail', '--max-time', String(maxSeconds), url], (maxSeconds + 5) * 1000);
  return stdout;
}

/**
 * Metrics from a sensor that may be too busy to answer at once (a saturated event loop under a packet flood):
 * retries until `patienceMs` has passed. Counts the scrapes that failed, which says something about the sensor.
 */
export async function patientMetrics(sensor: Sensor, patienceMs: number, failures: { count: number }): Promise<Metrics> {
  const deadline = nowMs() + patienceMs;
  for (;;) {
    try {
      return await sensor.metrics();
    } catch (err) {
      failures.count++;
      if (nowMs() > deadline || !sensor.process.running) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export async function startSensor(lab: Lab, repoRoot: string, o: SensorOptions): Promise<Sensor> {
  const port = o.metricsPort ?? DEFAULT_METRICS_PORT;
  const argv = [
    sensorCli(repoRoot), 'sensor',
    '--mon', lab.ifaces.mon,
    '--inj', lab.ifaces.inj,
    '--intel', o.intelFile,
    // Injected frames must carry the sensor's own MAC: an endpoint's MAC would move to the injection port in the
    // bridge's table (and the wire measurements recognise injected RSTs by this MAC).
    ...ownMacOption(repoRoot),
    '--metrics', `127.0.0.1:${port}`,
    '--name', o.name ?? `lab-${lab.id}`,
    ...(o.backend ? ['--backend', o.backend] : []),
    ...(o.productionGuards ? [] : LAB_GUARD_ARGS),
    ...(o.extraArgs ?? []),
  ];
  const p = lab.spawn('sensor', process.execPath, argv, { keepChars: 16 << 20 });
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  const sensor: Sensor = {
    process: p,
    metricsUrl,
    argv,
    metrics: async () => Metrics.parse(await fetchText(lab, metricsUrl)),
    reload: () => {
      p.signal('SIGHUP');
      return nowMs();
    },
    stop: async () => {
      const exit = await p.stop('SIGTERM', 15_000);
      const out = p.stdout().trim();
      let finalStats: Record<string, unknown> | null = null;
      try {
        finalStats = JSON.parse(out) as Record<string, unknown>;
      } catch {
        const last = out.split('\n').reverse().find((l) => l.trim().startsWith('{'));
        if (last) {
          try {
            finalStats = JSON.parse(last) as Record<string, unknown>;
          } catch {
            finalStats = null;
          }
        }
      }
      return { exit, finalStats };
    },
  };
  // Ready = /healthz answers. The caller then proves that packets are seen (see waitForCapture).
  const healthz = `http://127.0.0.1:${port}/healthz`;
  const startupMs = o.startupTimeoutMs ?? 30_000;
  const deadline = nowMs() + startupMs;
  for (;;) {
    if (!p.running) throw new LabError(`the sensor exited at start-up: ${p.stderr().slice(-3000)}`, `command: node ${argv.join(' ')}`);
    try {
      await fetchText(lab, healthz);
      return sensor;
    } catch {
      if (nowMs() > deadline) {
        await p.stop('SIGKILL', 1000);
        throw new LabError(`the sensor's ${healthz} did not answer within ${startupMs / 1000} s: ${p.stderr().slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Waits until the sensor's packet counter moves while `poke` makes traffic: the capture is really running (a
 * live backend may answer /healthz before its first packet).
 */
export async function waitForCapture(sensor: Sensor, poke: () => Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  const before = (await sensor.metrics()).sum('offpath_packets_captured_total');
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    await poke();
    if ((await sensor.metrics()).sum('offpath_packets_captured_total') > before) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new LabError(`the sensor counted no packet within ${timeoutMs} ms of traffic on the mirror`, 'is it capturing on mon?');
}

/** A CSV intel file (src/intel format) blocking these addresses. */
export function intelCsv(blocked: readonly string[], extra: readonly string[] = []): string {
  const lines = ['indicator,action,expires,source,reason,tags'];
  for (const a of blocked) lines.push(`${a},block,,lab,blocked lab server,lab`);
  lines.push(...extra);
  return `${lines.join('\n')}\n`;
}
