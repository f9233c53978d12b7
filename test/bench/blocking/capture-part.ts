/**
 * Benchmark part "capture": how much of a fast mirror each capture backend keeps up with, while the sensor holds a
 * large intel set (1 M entries; 100 k with --quick).
 *
 * The synthetic capture (test/bench/synthetic-pcap.ts, the engine part's) is replayed with tcpreplay into the
 * switch end of the lab's mirror link (p-mon), so it arrives on the sensor's `mon` as a SPAN port would deliver
 * it: at stepped --pps rates, then --topspeed. Per step: packets tcpreplay sent, packets the sensor counted
 * (offpath_packets_captured_total), their ratio, drops the sensor reported; per series the first rate at which
 * it processed less than 99.9 % of what was sent. Each step gets a fresh sensor (see runSeries).
 *
 * Series: every backend as deployed (production guards: reset rate caps, circuit breaker), then the default
 * backend with the guards lifted. A replayed capture never reacts to a reset, so with the caps lifted every later
 * packet of the 27 % of sessions that hit a blocked server is answered with re-injected resets (about eight per
 * kill): that series measures an injection storm no guarded sensor would send, not the capture path, and is
 * reported apart from it.
 */
import { join } from 'node:path';
import { createLab, type Lab } from '../../support/netns-lab.js';
import { findExecutable } from '../harness/exec.js';
import type { BenchContext, BenchPart, PartResult } from '../harness/part.js';
import { findNativeAddon, labPrerequisites, patientMetrics, startSensor, waitForCapture, type Sensor } from '../lab/lab-processes.js';
import { ensureSyntheticPcap } from '../synthetic-pcap.js';
import { BACKENDS, nativeUnavailable } from './blocking-part.js';
import { ensureBigIntel } from './big-intel.js';
import { captureTable } from './report.js';

/** A step keeps up when the sensor counted at least this share of what was sent. */
export const KEEPS_UP = 0.999;

interface Plan {
  intelEntries: number;
  /** Stepped rates (packets/s); null = --topspeed. */
  rates: (number | null)[];
  secondsPerStep: number;
  topspeedPackets: number;
}

const FULL: Plan = { intelEntries: 1_000_000, rates: [25_000, 50_000, 100_000, 200_000, 400_000, null], secondsPerStep: 8, topspeedPackets: 2_000_000 };
const QUICK: Plan = { intelEntries: 100_000, rates: [20_000, 50_000, 100_000, null], secondsPerStep: 2, topspeedPackets: 200_000 };

export interface CaptureStep {
  requestedPps: number | null;
  sent: number;
  failedToSend: number;
  achievedPps: number | null;
  replaySeconds: number | null;
  processed: number;
  processedRatio: number;
  /** Drops the sensor reported (kernel ring / libpcap). */
  drops: number;
  /**
   * Frames lost before any capture socket: the mon veth's receive drops (the kernel's per-CPU backlog overflowing
   * when the sensor's CPU is busy). libpcap cannot see these, so they are read from the interface statistics.
   */
  interfaceRxDropped: number;
  /** Metrics scrapes that timed out while the sensor was busy (retried; a sign of a saturated event loop). */
  failedScrapes: number;
}

/** One line of sensors measured: a backend, with the production guards or with them lifted. */
interface Series {
  readonly label: string;
  readonly backend: string;
  readonly productionGuards: boolean;
}

const SERIES: readonly Series[] = [
  ...BACKENDS.map((backend) => ({ label: backend, backend, productionGuards: true })),
  { label: 'native-tpacket, guards lifted', backend: 'native-tpacket', productionGuards: false },
];

export interface CaptureBackendFigures {
  /** The series' label: the backend, and "guards lifted" for the stress series. */
  backend: string;
  /** Whether the sensor ran with its production guards (reset rate caps, circuit breaker). */
  productionGuards: boolean;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  /** Steps that could not be measured, and why. */
  stepProblems?: string[];
  intelLoadSeconds?: number;
  steps: CaptureStep[];
  /** Lowest rate (achieved packets/s) at which the backend processed less than KEEPS_UP of what was sent. */
  dropsFromPps: number | null;
  /** Highest rate it kept up with. */
  keptUpToPps: number | null;
}

export const capturePart: BenchPart = {
  name: 'capture',
  description: 'synthetic capture replayed into the lab mirror (tcpreplay, stepped pps): processed/sent per backend, 1 M intel',
  run: runCaptureBench,
};

async function runCaptureBench(ctx: BenchContext): Promise<PartResult> {
  const missing = labPrerequisites(ctx.repoRoot, true);
  if (!findExecutable('tcpreplay')) missing.push('tcpreplay not found (apt-get install tcpreplay)');
  if (missing.length > 0) return { status: 'skipped', reason: missing.join('; ') };
  const plan = ctx.options.quick ? QUICK : FULL;
  const o = ctx.options;
  ctx.log(`synthetic capture: ${o.packets} packets, ${o.flows} flows (cached under ${ctx.cacheDir})`);
  const capture = await ensureSyntheticPcap({ packets: o.packets, flows: o.flows, seed: o.seed }, join(ctx.cacheDir, 'synthetic'));
  const intel = await ensureBigIntel(plan.intelEntries, join(ctx.cacheDir, 'intel'));
  ctx.log(`intel: ${intel.entries} entries (${intel.path})`);
  const addon = findNativeAddon(ctx.repoRoot);

  const results: CaptureBackendFigures[] = [];
  const problems: string[] = [];
  for (const series of SERIES) {
    const { label, backend } = series;
    const skip = (reason: string): void => {
      results.push({ backend: label, productionGuards: series.productionGuards, status: 'skipped', reason, steps: [], dropsFromPps: null, keptUpToPps: null });
    };
    if (backend !== 'cap' && !addon) {
      const reason = 'the native addon is not built (npm install builds native-bindings/ with node-gyp)';
      ctx.log(`\n${label}: skipped, ${reason}`);
      skip(reason);
      continue;
    }
    ctx.log(`\n${label}:`);
    try {
      results.push(await runSeries(ctx, series, plan, capture.path, capture.packets, intel.path));
    } catch (err) {
      const reason = (err as Error).message;
      if (nativeUnavailable(reason)) {
        ctx.log(`${label}: skipped, the sensor could not load its native backend`);
        skip(reason);
        continue;
      }
      problems.push(`${label}: ${reason}`);
      results.push({ backend: label, productionGuards: series.productionGuards, status: 'failed', reason, steps: [], dropsFromPps: null, keptUpToPps: null });
    }
  }
  const measured = results.filter((r) => r.status === 'ok');
  if (measured.length > 0) ctx.log(`\n${captureTable(measured)}`);
  for (const p of problems) ctx.log(`problem: ${p}`);
  const data = { quick: o.quick, plan, keepsUp: KEEPS_UP, capture: { path: capture.path, packets: capture.packets }, intelEntries: intel.entries, backends: results, problems };
  if (measured.length === 0 || problems.length > 0) return { status: 'failed', reason: problems[0] ?? 'no backend could be measured', data };
  return { status: 'ok', data };
}

async function runSeries(ctx: BenchContext, series: Series, plan: Plan, pcap: string, pcapPackets: number, intelFile: string): Promise<CaptureBackendFigures> {
  const { backend, productionGuards } = series;
  let lab: Lab | undefined;
  try {
    lab = await createLab({ tag: 'capbench' });
    const l = lab;
    const steps: CaptureStep[] = [];
    const stepProblems: string[] = [];
    let intelLoadSeconds = 0;
    for (const pps of plan.rates) {
      // A fresh sensor per step: replaying the same packets into a warm session table would make every step
      // after the first cheaper (no new sessions to create), and the later, faster steps look better than they are.
      const started = Date.now();
      const sensor = await startSensor(lab, ctx.repoRoot, { intelFile, backend, name: `capture-${backend}`, startupTimeoutMs: 300_000, productionGuards });
      if (steps.length === 0) {
        intelLoadSeconds = (Date.now() - started) / 1000;
        ctx.log(`  sensor up in ${intelLoadSeconds.toFixed(1)} s (intel load included)`);
      }
      try {
        await waitForCapture(sensor, () => replay(l, pcap, 20_000, 100));
        const limit = Math.min(pcapPackets, pps === null ? plan.topspeedPackets : Math.max(20_000, pps * plan.secondsPerStep));
        const step = await measureStep(lab, sensor, pcap, pps, limit);
        steps.push(step);
        ctx.log(`  ${pps === null ? 'topspeed' : `${pps} pps`}: sent ${step.sent} at ${step.achievedPps?.toFixed(0) ?? '?'} pps, ` +
          `processed ${step.processed} (${(step.processedRatio * 100).toFixed(2)} %), drops ${step.drops}, mon rx dropped ${step.interfaceRxDropped}` +
          (step.failedScrapes > 0 ? `, ${step.failedScrapes} metrics scrapes timed out` : ''));
      } catch (err) {
        // One step that cannot be measured (the sensor died or never answered) does not void the others.
        const reason = (err as Error).message;
        stepProblems.push(`${pps === null ? 'topspeed' : `${pps} pps`}: ${reason}`);
        ctx.log(`  ${pps === null ? 'topspeed' : `${pps} pps`}: not measured: ${reason.slice(0, 300)}`);
      } finally {
        await sensor.stop();
      }
    }
    // Steps in the order of the rate actually achieved (topspeed is usually the fastest, but not always).
    const byRate = [...steps].filter((s) => s.achievedPps !== null).sort((a, b) => a.achievedPps! - b.achievedPps!);
    const firstDrop = byRate.find((s) => s.processedRatio < KEEPS_UP);
    const kept = byRate.filter((s) => s.processedRatio >= KEEPS_UP && (!firstDrop || s.achievedPps! < firstDrop.achievedPps!));
    if (steps.length === 0) throw new Error(`no step could be measured: ${stepProblems.join('; ')}`);
    return {
      backend: series.label,
      productionGuards,
      status: 'ok',
      stepProblems,
      intelLoadSeconds,
      steps,
      dropsFromPps: firstDrop?.achievedPps ?? null,
      keptUpToPps: kept.length > 0 ? kept[kept.length - 1]!.achievedPps : null,
    };
  } finally {
    await lab?.destroy();
  }
}

interface ReplayResult {
  sent: number;
  failed: number;
  seconds: number | null;
  pps: number | null;
}

/** tcpreplay out of the switch end of the mirror link: the frames arrive on the sensor's mon. */
async function replay(lab: Lab, pcap: string, pps: number | null, limit: number): Promise<ReplayResult> {
  const rate = pps === null ? ['--topspeed'] : ['--pps', String(pps)];
  const { stdout } = await lab.exec('switch', 'tcpreplay', ['-q', '-i', lab.ifaces.monPort, ...rate, '--limit', String(limit), pcap], 30 * 60_000);
  const num = (re: RegExp): number | null => {
    const m = re.exec(stdout);
    return m ? Number(m[1]) : null;
  };
  const sent = num(/Successful packets:\s+(\d+)/) ?? num(/Actual:\s+(\d+) packets/) ?? 0;
  return {
    sent,
    failed: num(/Failed packets:\s+(\d+)/) ?? 0,
    seconds: num(/sent in ([\d.]+) seconds/),
    pps: num(/([\d.]+) pps/),
  };
}

/** Receive drops of the sensor's mon interface (veth: frames the backlog had no room for). */
async function monRxDropped(lab: Lab): Promise<number> {
  const { stdout } = await lab.exec('sensor', 'ip', ['-j', '-s', 'link', 'show', 'dev', lab.ifaces.mon]);
  const parsed = JSON.parse(stdout) as { stats64?: { rx?: { dropped?: number } } }[];
  return parsed[0]?.stats64?.rx?.dropped ?? 0;
}

async function measureStep(lab: Lab, sensor: Sensor, pcap: string, pps: number | null, limit: number): Promise<CaptureStep> {
  const failures = { count: 0 };
  const metrics = (): ReturnType<typeof patientMetrics> => patientMetrics(sensor, 120_000, failures);
  const before = await metrics();
  const ifaceBefore = await monRxDropped(lab);
  const r = await replay(lab, pcap, pps, limit);
  // The sensor may still be working through its buffer: wait until its counter stops moving (bounded).
  let last = -1;
  let now = (await metrics()).sum('offpath_packets_captured_total');
  for (let i = 0; i < 80 && now !== last; i++) {
    await new Promise((done) => setTimeout(done, 250));
    last = now;
    now = (await metrics()).sum('offpath_packets_captured_total');
  }
  const after = await metrics();
  const processed = after.sum('offpath_packets_captured_total') - before.sum('offpath_packets_captured_total');
  return {
    requestedPps: pps,
    sent: r.sent,
    failedToSend: r.failed,
    achievedPps: r.pps,
    replaySeconds: r.seconds,
    processed,
    processedRatio: r.sent > 0 ? processed / r.sent : 0,
    drops: after.sum('offpath_capture_drops_total') - before.sum('offpath_capture_drops_total'),
    interfaceRxDropped: (await monRxDropped(lab)) - ifaceBefore,
    failedScrapes: failures.count,
  };
}
