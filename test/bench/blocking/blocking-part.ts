/**
 * Benchmark part "blocking": the sensor in a network-namespace lab against real Linux TCP stacks.
 *
 * Per capture backend, per scenario (Poisson arrivals or 50 at a time, to a banner service or a
 * request/response service): N connections to blocked destinations interleaved with N/4 to an allowed one.
 * Measured: the fraction of blocked connections reset before their first application byte (goal >= 99.99 %),
 * the bytes that leaked before the reset, collateral resets on the allowed destination (goal 0), and
 * time-to-RST on the wire, from the client's SYN to the first injected RST on the client's switch port
 * (goal p99 <= 1 ms). --quick runs a few hundred connections per scenario.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../../support/netns-lab.js';
import type { BenchContext, BenchPart, PartResult } from '../harness/part.js';
import {
  findNativeAddon,
  intelCsv,
  labPrerequisites,
  patientMetrics,
  runLoadClient,
  startPeerServer,
  startSensor,
  startWireCapture,
  targets,
  waitForCapture,
  type Sensor,
} from '../lab/lab-processes.js';
import { DEFAULT_PORTS, percentile } from '../lab/lab-protocol.js';
import type { ConnectionRecord } from '../lab/load-summary.js';
import type { Metrics } from '../lab/prometheus-text.js';
import { analyseWireTiming, type WireDistribution, type WireLowTail } from '../lab/wire-timing.js';
import { blockingTable } from './report.js';

export const BACKENDS = ['cap', 'native-pcap', 'native-tpacket'] as const;

/** What is measured: each backend as shipped, and the default backend with a real-time packet thread. */
interface SensorConfig {
  label: string;
  backend: (typeof BACKENDS)[number];
  extraArgs: string[];
}
const CONFIGS: readonly SensorConfig[] = [
  ...BACKENDS.map((backend) => ({ label: backend, backend, extraArgs: [] })),
  { label: 'native-tpacket, --realtime-priority 50', backend: 'native-tpacket', extraArgs: ['--realtime-priority', '50'] },
];

/**
 * The sensor refused a native backend because its addon (or the addon's JavaScript side) is not there yet: the
 * backend is skipped, not failed, as when the addon was never built.
 */
export function nativeUnavailable(startupError: string): boolean {
  return /native backend did not load|backend_unavailable/.test(startupError);
}

export const GOALS = { resetBeforeFirstByte: 0.9999, collateralResets: 0, synToRstP99Us: 1000 } as const;

interface Scenario {
  name: string;
  service: 'banner' | 'reqresp';
  arrival: 'poisson' | 'closed-loop';
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'poisson/banner', service: 'banner', arrival: 'poisson' },
  { name: 'poisson/reqresp', service: 'reqresp', arrival: 'poisson' },
  { name: 'closed-50/banner', service: 'banner', arrival: 'closed-loop' },
  { name: 'closed-50/reqresp', service: 'reqresp', arrival: 'closed-loop' },
];

interface Sizes {
  blockedConnections: number;
  /** Poisson arrivals per second, blocked and allowed together. */
  rate: number;
  concurrency: number;
}

const FULL: Sizes = { blockedConnections: 10_000, rate: 500, concurrency: 50 };
const QUICK: Sizes = { blockedConnections: 300, rate: 150, concurrency: 50 };

export interface ScenarioFigures {
  scenario: string;
  service: string;
  arrival: string;
  ratePerSecond: number | null;
  concurrency: number | null;
  seconds: number;
  blocked: {
    connections: number;
    resetBeforeFirstByte: number;
    fractionResetBeforeFirstByte: number;
    reset: number;
    completed: number;
    timeout: number;
    closed: number;
    error: number;
    /** Connections that received application bytes (reset late, or never reset). */
    leakingConnections: number;
    leakedBytes: { total: number; p50: number | null; p99: number | null; max: number };
  };
  allowed: {
    connections: number;
    completed: number;
    /** Allowed connections reset (client view) or drawing an injected RST (wire view). */
    collateralResets: number;
    collateralOnWire: number;
    failed: number;
  };
  wire: {
    blockedAttempts: number;
    withInjectedRst: number;
    synToRstUs: WireDistribution;
    serverPayloadBeforeRst: { attempts: number; bytes: number };
    /**
     * The race the sensor runs: on the allowed destination (same service, never reset), SYN to the server's first
     * payload on the client's port. A blocked connection's reset must reach the client sooner than that.
     */
    allowedSynToFirstByteUs: WireLowTail;
    tcpdumpDropped: number | null;
  };
  sensor: Record<string, number>;
  goalsMet: { resetBeforeFirstByte: boolean; collateralResets: boolean; synToRstP99: boolean };
}

export interface BackendFigures {
  backend: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  scenarios: ScenarioFigures[];
  /** Scenarios that could not be measured, and why. */
  scenarioProblems?: string[];
  /** The sensor's own histograms over the whole run, seconds. */
  triggerToInjection?: { p50: number | null; p99: number | null };
  finalStats?: Record<string, unknown> | null;
}

export const blockingPart: BenchPart = {
  name: 'blocking',
  description: 'sensor in a netns lab: resets before the first byte, leaks, collateral, wire time-to-RST, per backend',
  run: runBlockingBench,
};

async function runBlockingBench(ctx: BenchContext): Promise<PartResult> {
  const missing = labPrerequisites(ctx.repoRoot, true);
  if (missing.length > 0) return { status: 'skipped', reason: missing.join('; ') };
  const sizes = ctx.options.quick ? QUICK : FULL;
  const addon = findNativeAddon(ctx.repoRoot);
  const results: BackendFigures[] = [];
  const problems: string[] = [];
  for (const config of CONFIGS) {
    const backend = config.label;
    if ((config.backend !== 'cap' || config.extraArgs.length > 0) && !addon) {
      const reason = 'the native addon is not built (npm install builds native-bindings/ with node-gyp)';
      ctx.log(`\n${backend}: skipped, ${reason}`);
      results.push({ backend, status: 'skipped', reason, scenarios: [] });
      continue;
    }
    ctx.log(`\n${backend}: ${SCENARIOS.length} scenarios x ${sizes.blockedConnections} blocked connections`);
    try {
      results.push(await runBackend(ctx, config, sizes));
    } catch (err) {
      const reason = (err as Error).message;
      if (nativeUnavailable(reason)) {
        ctx.log(`${backend}: skipped, the sensor could not load its native backend`);
        results.push({ backend, status: 'skipped', reason, scenarios: [] });
        continue;
      }
      problems.push(`${backend}: ${reason}`);
      results.push({ backend, status: 'failed', reason, scenarios: [] });
    }
  }
  const measured = results.filter((r) => r.status === 'ok');
  if (measured.length > 0) ctx.log(`\n${blockingTable(measured)}`);
  ctx.log(`goals: reset before the first byte >= ${(GOALS.resetBeforeFirstByte * 100).toFixed(2)} %, ` +
    `collateral resets ${GOALS.collateralResets}, wire SYN->RST p99 <= ${GOALS.synToRstP99Us} µs`);
  for (const p of problems) ctx.log(`problem: ${p}`);
  const data = { quick: ctx.options.quick, sizes, goals: GOALS, backends: results, problems };
  if (measured.length === 0 || problems.length > 0) return { status: 'failed', reason: problems[0] ?? 'no backend could be measured', data };
  return { status: 'ok', data };
}

async function runBackend(ctx: BenchContext, config: SensorConfig, sizes: Sizes): Promise<BackendFigures> {
  const backend = config.label;
  mkdirSync(ctx.cacheDir, { recursive: true });
  const work = mkdtempSync(join(ctx.cacheDir, 'blocking-'));
  let lab: Lab | undefined;
  let sensor: Sensor | undefined;
  try {
    lab = await createLab({ tag: 'bench' });
    const blockedAddresses = [...lab.addresses.blockedV4.slice(0, 3), lab.addresses.blockedV6[0]!];
    const allowedAddress = lab.addresses.allowedV4[0]!;
    const intelFile = join(work, 'intel.csv');
    writeFileSync(intelFile, intelCsv([...lab.addresses.blockedV4, ...lab.addresses.blockedV6]));
    await startPeerServer(lab, ctx.repoRoot);
    sensor = await startSensor(lab, ctx.repoRoot, { intelFile, backend: config.backend, name: `bench-${config.backend}`, extraArgs: config.extraArgs });
    const l = lab;
    await waitForCapture(sensor, () =>
      runLoadClient(l, ctx.repoRoot, [...targets('warm-up', 'banner', [allowedAddress], DEFAULT_PORTS.banner), '--connections', '1']));

    const scenarios: ScenarioFigures[] = [];
    const scenarioProblems: string[] = [];
    for (const scenario of SCENARIOS) {
      let f: ScenarioFigures;
      try {
        f = await runScenario(ctx, lab, sensor, scenario, sizes, blockedAddresses, allowedAddress, work);
      } catch (err) {
        // One scenario that cannot be measured does not void the others (the sensor keeps running).
        const reason = (err as Error).message;
        scenarioProblems.push(`${scenario.name}: ${reason}`);
        ctx.log(`  ${scenario.name}: not measured: ${reason.slice(0, 300)}`);
        continue;
      }
      scenarios.push(f);
      ctx.log(`  ${scenario.name}: ${(f.blocked.fractionResetBeforeFirstByte * 100).toFixed(2)} % reset before the first byte, ` +
        `${f.blocked.leakingConnections} leaking, collateral ${f.allowed.collateralResets}, ` +
        `SYN->RST p50 ${f.wire.synToRstUs.p50 ?? '-'} µs p99 ${f.wire.synToRstUs.p99 ?? '-'} µs; ` +
        `the race (allowed: SYN->first server byte) min ${f.wire.allowedSynToFirstByteUs.min ?? '-'} µs p1 ${f.wire.allowedSynToFirstByteUs.p1 ?? '-'} µs ` +
        `p50 ${f.wire.allowedSynToFirstByteUs.p50 ?? '-'} µs`);
    }
    if (scenarios.length === 0) throw new Error(`no scenario could be measured: ${scenarioProblems.join('; ')}`);
    const m = await patientMetrics(sensor, 60_000, { count: 0 });
    const triggerToInjection = {
      p50: m.histogramQuantile('offpath_trigger_to_injection_seconds', 0.5),
      p99: m.histogramQuantile('offpath_trigger_to_injection_seconds', 0.99),
    };
    const { finalStats } = await sensor.stop();
    return { backend, status: 'ok', scenarios, scenarioProblems, triggerToInjection, finalStats };
  } finally {
    await lab?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

const SENSOR_COUNTERS = [
  'offpath_packets_captured_total',
  'offpath_capture_drops_total',
  'offpath_rst_packets_sent_total',
  'offpath_probe_packets_sent_total',
  'offpath_kills_attempted_total',
  'offpath_kills_confirmed_total',
  'offpath_kills_failed_total',
];

function counterDeltas(before: Metrics, after: Metrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of SENSOR_COUNTERS) out[name.replace(/^offpath_/, '')] = after.sum(name) - before.sum(name);
  return out;
}

async function runScenario(
  ctx: BenchContext,
  lab: Lab,
  sensor: Sensor,
  scenario: Scenario,
  sizes: Sizes,
  blockedAddresses: string[],
  allowedAddress: string,
  work: string,
): Promise<ScenarioFigures> {
  const port = DEFAULT_PORTS[scenario.service];
  // Four blocked targets then one allowed: connections go round-robin, so allowed ones are interleaved 1 in 5.
  const total = Math.ceil((sizes.blockedConnections * 5) / 4);
  const arrival = scenario.arrival === 'poisson' ? ['--rate', String(sizes.rate)] : ['--concurrency', String(sizes.concurrency)];
  const busy = { count: 0 };
  const before = await patientMetrics(sensor, 60_000, busy);
  const pcap = join(work, `${scenario.name.replace(/\W/g, '-')}.pcap`);
  const capture = await startWireCapture(lab, 'switch', lab.ifaces.clientPort, pcap);
  const load = await runLoadClient(lab, ctx.repoRoot, [
    ...targets('blocked', scenario.service, blockedAddresses, port),
    ...targets('allowed', scenario.service, [allowedAddress], port),
    '--connections', String(total), ...arrival, '--timeout-ms', '5000', '--per-connection',
    '--source', [...lab.addresses.clientV4, ...lab.addresses.clientV6].join(','),
  ]);
  // Late resets and kill confirmations (by silence) land within a second.
  await new Promise((done) => setTimeout(done, 1000));
  const tcpdump = await capture.stop();
  const after = await patientMetrics(sensor, 60_000, busy);
  const labels = new Map<string, string>([...blockedAddresses.map((a): [string, string] => [a, 'blocked']), [allowedAddress, 'allowed']]);
  const wire = analyseWireTiming(pcap, { injectorMacs: [lab.macs.inj], serverLabels: labels });
  rmSync(pcap, { force: true });

  const blockedRecords = load.records.filter((r) => r.label === 'blocked');
  const allowedRecords = load.records.filter((r) => r.label === 'allowed');
  const b = load.summary.labels.blocked!;
  const a = load.summary.labels.allowed!;
  const leaks = leakFigures(blockedRecords);
  const wb = wire.labels.blocked;
  const wa = wire.labels.allowed;
  const fraction = b.connections > 0 ? b.resetBeforeFirstByte / b.connections : 0;
  const collateralOnWire = wa?.withInjectedRst ?? 0;
  const collateral = Math.max(a.reset, collateralOnWire);
  const synToRstUs = wb?.synToRstUs ?? { count: 0, p50: null, p90: null, p99: null, p999: null, max: null };
  return {
    scenario: scenario.name,
    service: scenario.service,
    arrival: scenario.arrival,
    ratePerSecond: load.summary.ratePerSecond,
    concurrency: load.summary.concurrency,
    seconds: load.summary.seconds,
    blocked: {
      connections: b.connections,
      resetBeforeFirstByte: b.resetBeforeFirstByte,
      fractionResetBeforeFirstByte: fraction,
      reset: b.reset,
      completed: b.completed,
      timeout: b.timeout,
      closed: b.closed,
      error: b.error,
      leakingConnections: leaks.connections,
      leakedBytes: leaks.bytes,
    },
    allowed: {
      connections: a.connections,
      completed: a.completed,
      collateralResets: collateral,
      collateralOnWire,
      failed: allowedRecords.filter((r) => r.outcome !== 'completed').length,
    },
    wire: {
      blockedAttempts: wb?.attempts ?? 0,
      withInjectedRst: wb?.withInjectedRst ?? 0,
      synToRstUs,
      serverPayloadBeforeRst: { attempts: wb?.withServerPayloadBeforeRst ?? 0, bytes: wb?.serverPayloadBytesBeforeRst ?? 0 },
      allowedSynToFirstByteUs: wa?.synToFirstServerByteUs ?? { count: 0, min: null, p1: null, p10: null, p50: null },
      tcpdumpDropped: tcpdump.droppedByKernel,
    },
    sensor: counterDeltas(before, after),
    goalsMet: {
      resetBeforeFirstByte: fraction >= GOALS.resetBeforeFirstByte,
      collateralResets: collateral <= GOALS.collateralResets,
      synToRstP99: synToRstUs.p99 !== null && synToRstUs.p99 <= GOALS.synToRstP99Us,
    },
  };
}

/** Application bytes that reached blocked clients: on late resets and on connections never reset. */
function leakFigures(records: readonly ConnectionRecord[]): { connections: number; bytes: ScenarioFigures['blocked']['leakedBytes'] } {
  const leaked = records.filter((r) => r.appBytes > 0).map((r) => r.appBytes).sort((x, y) => x - y);
  return {
    connections: leaked.length,
    bytes: {
      total: leaked.reduce((s, v) => s + v, 0),
      p50: percentile(leaked, 50),
      p99: percentile(leaked, 99),
      max: leaked.length > 0 ? leaked[leaked.length - 1]! : 0,
    },
  };
}
