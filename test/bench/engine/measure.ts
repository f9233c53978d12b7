/**
 * Times one capture with both readers: the libpcap floor (`tcpdump -r FILE -w /dev/null`: read, parse record
 * headers, write them back out, nothing else) and offpath (`offpath replay --summary-json FILE`: the whole
 * engine pipeline). Runs alternate (tcpdump, offpath, tcpdump, ...) so that a burst of load from something else
 * on the machine hurts both sides alike, and the best run of each is kept: the best run is the one least
 * disturbed, which is the most repeatable figure on a shared machine.
 *
 * The synthetic capture is also timed through its first stages alone (stage-timer.ts: reading; reading and
 * decoding), in the same rounds, so the table can say how much of the replay time each stage takes.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from '../harness/part.js';
import { runTimed, type TimedRun } from '../harness/exec.js';
import { warmPageCache } from '../harness/page-cache.js';
import type { BenchCapture } from './captures.js';
import { parseOffpathSummary, sumDecodeErrors, type OffpathSummary } from './offpath-summary.js';

/** The ratio offpath_pps / tcpdump_pps that the engine aims for on one core. */
export const RATIO_GOAL = 0.5;

/** The stage timer of this build (it times this build's reader and decoder, even with --offpath-cli). */
const STAGE_TIMER = join(dirname(fileURLToPath(import.meta.url)), 'stage-timer.js');
const STAGES = ['read', 'decode'] as const;

/** Best loop seconds of the first stages alone (synthetic capture only). */
export interface StageFigures {
  readSeconds: number | null;
  decodeSeconds: number | null;
}

export interface Tools {
  tcpdump: string | undefined;
  /** Absolute path of dist/src/cli/main.js when it exists. */
  offpathCli: string | undefined;
  /** CPU the measured processes are pinned to, or undefined. */
  cpu: number | undefined;
}

export interface TcpdumpFigures {
  bestSeconds: number;
  pps: number;
  nsPerPacket: number;
  maxRssBytes: number | null;
  runSeconds: number[];
}

export interface OffpathFigures {
  /** Pipeline time of the best run, as offpath reports it. */
  seconds: number;
  pps: number;
  nsPerPacket: number;
  /** Best wall time of the whole process (node start-up included), and the rate it gives. */
  wallSeconds: number;
  wallPps: number;
  peakRssBytes: number | null;
  /** Peak RSS seen from outside (GNU time), to cross-check peakRssBytes. */
  externalMaxRssBytes: number | null;
  bytesPerSession: number | null;
  sessionTableCapacity: number | null;
  sessions: OffpathSummary['sessions'];
  decodeErrors: OffpathSummary['decodeErrors'];
  decodeErrorTotal: number | null;
  packets: number | null;
  bytes: number | null;
  runs: { seconds: number | null; wallSeconds: number }[];
  /** The summary object of the best run, verbatim. */
  summary: unknown;
}

export interface CaptureFigures {
  capture: Omit<BenchCapture, 'synthetic'>;
  tcpdump: TcpdumpFigures | null;
  offpath: OffpathFigures | null;
  /** offpath.pps / tcpdump.pps (pipeline time against tcpdump's wall time). */
  ratio: number | null;
  /** The same with offpath's whole-process wall time (start-up included): the pessimistic view. */
  ratioWall: number | null;
  ratioGoal: number;
  meetsGoal: boolean | null;
  /** The first stages alone: the synthetic capture only, else null. */
  stages: StageFigures | null;
  /** Anything wrong: failed runs, missing fields, packet counts that disagree. */
  problems: string[];
}

export async function measureCapture(ctx: BenchContext, capture: BenchCapture, tools: Tools): Promise<CaptureFigures> {
  const o = ctx.options;
  const problems: string[] = [];
  const tcpdumpRuns: TimedRun[] = [];
  const offpathRuns: { run: TimedRun; summary: OffpathSummary; raw: unknown }[] = [];
  let offpathFailed = false;
  let tcpdumpFailed = false;
  // The first stages do not depend on replay arguments: timed once, with the plain synthetic capture.
  const stages: StageFigures | null = capture.origin === 'synthetic' && !capture.replayArgs ? { readSeconds: null, decodeSeconds: null } : null;
  for (let r = 1; r <= o.runs; r++) {
    if (tools.tcpdump && !tcpdumpFailed) {
      warmPageCache(capture.path);
      const run = await runTimed(tools.tcpdump, ['-r', capture.path, '-w', '/dev/null'], {
        cpu: tools.cpu,
        timeoutSeconds: o.timeoutSeconds,
      });
      if (run.exitCode === 0) {
        tcpdumpRuns.push(run);
        ctx.log(`  run ${r}/${o.runs} tcpdump  ${run.wallSeconds.toFixed(3)} s  ${rate(capture.packets, run.wallSeconds)}`);
      } else {
        tcpdumpFailed = true;
        problems.push(`tcpdump failed: ${describeFailure(run)}`);
      }
    }
    if (tools.offpathCli && !offpathFailed) {
      warmPageCache(capture.path);
      const run = await runTimed(
        process.execPath,
        [...o.nodeArgs, tools.offpathCli, 'replay', '--summary-json', ...(capture.replayArgs ?? []), capture.path],
        { cpu: tools.cpu, timeoutSeconds: o.timeoutSeconds },
      );
      const parsed = parseOffpathSummary(run.stdout);
      if (run.exitCode !== 0 || !parsed.summary) {
        offpathFailed = true;
        problems.push(`offpath replay failed: ${describeFailure(run)}${parsed.problems.length ? `; ${parsed.problems[0]}` : ''}`);
      } else {
        if (r === 1) problems.push(...parsed.problems.map((p) => `offpath summary: ${p}`));
        offpathRuns.push({ run, summary: parsed.summary, raw: parsed.raw });
        const s = parsed.summary.seconds;
        ctx.log(
          `  run ${r}/${o.runs} offpath  ${s === null ? '?' : s.toFixed(3)} s pipeline, ${run.wallSeconds.toFixed(3)} s wall  ` +
            (s === null ? '' : rate(capture.packets, s)) + `  (${trackPathOf(parsed.raw)} path)`,
        );
      }
    }
    if (stages !== null) await timeStages(ctx, capture, tools, stages, problems);
  }

  const tcpdump = tcpdumpFigures(capture, tcpdumpRuns);
  const offpath = offpathFigures(capture, offpathRuns, problems);
  const ratio = tcpdump && offpath ? offpath.pps / tcpdump.pps : null;
  const ratioWall = tcpdump && offpath ? offpath.wallPps / tcpdump.pps : null;
  const { synthetic: _omit, replayArgs: _args, ...captureRecord } = capture;
  return {
    capture: captureRecord,
    tcpdump,
    offpath,
    ratio,
    ratioWall,
    ratioGoal: RATIO_GOAL,
    meetsGoal: ratio === null ? null : ratio >= RATIO_GOAL,
    stages,
    problems,
  };
}

/** One round of the stage timer over `capture`; keeps the best seconds of each stage in `best`. */
async function timeStages(ctx: BenchContext, capture: BenchCapture, tools: Tools, best: StageFigures, problems: string[]): Promise<void> {
  for (const stage of STAGES) {
    warmPageCache(capture.path);
    const run = await runTimed(process.execPath, [...ctx.options.nodeArgs, STAGE_TIMER, stage, capture.path], {
      cpu: tools.cpu,
      timeoutSeconds: ctx.options.timeoutSeconds,
    });
    let seconds: number | null = null;
    try {
      const out = JSON.parse(run.stdout) as { packets?: unknown; seconds?: unknown };
      if (run.exitCode === 0 && out.packets === capture.packets && typeof out.seconds === 'number') seconds = out.seconds;
    } catch {
      // reported below
    }
    if (seconds === null) {
      problems.push(`stage timer (${stage}) failed: ${describeFailure(run)}`);
      continue;
    }
    ctx.log(`  stage ${stage.padEnd(6)} ${seconds.toFixed(3)} s  ${rate(capture.packets, seconds)}`);
    const key = stage === 'read' ? 'readSeconds' : 'decodeSeconds';
    if (best[key] === null || seconds < best[key]!) best[key] = seconds;
  }
}

function tcpdumpFigures(capture: BenchCapture, runs: TimedRun[]): TcpdumpFigures | null {
  if (runs.length === 0) return null;
  const best = runs.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
  const pps = capture.packets / best.wallSeconds;
  return {
    bestSeconds: best.wallSeconds,
    pps,
    nsPerPacket: 1e9 / pps,
    maxRssBytes: best.maxRssBytes,
    runSeconds: runs.map((r) => r.wallSeconds),
  };
}

function offpathFigures(
  capture: BenchCapture,
  runs: { run: TimedRun; summary: OffpathSummary; raw: unknown }[],
  problems: string[],
): OffpathFigures | null {
  if (runs.length === 0) return null;
  // Best = shortest pipeline time; fall back to wall time if the summary has no usable `seconds`.
  const key = (x: (typeof runs)[number]): number => x.summary.seconds ?? x.run.wallSeconds;
  const best = runs.reduce((a, b) => (key(b) < key(a) ? b : a));
  const bestWall = Math.min(...runs.map((x) => x.run.wallSeconds));
  const s = best.summary;
  const seconds = key(best);
  // offpath's own pps is preferred (it knows what it counted); packets / seconds otherwise.
  const pps = s.pps ?? (s.packets ?? capture.packets) / seconds;
  if (s.packets !== null && s.packets !== capture.packets) {
    problems.push(`offpath counted ${s.packets} packets, the capture has ${capture.packets}`);
  }
  const decodeErrorTotal = sumDecodeErrors(s.decodeErrors);
  return {
    seconds,
    pps,
    nsPerPacket: 1e9 / pps,
    wallSeconds: bestWall,
    wallPps: capture.packets / bestWall,
    peakRssBytes: s.peakRssBytes,
    externalMaxRssBytes: best.run.maxRssBytes,
    bytesPerSession: s.sessionTable?.bytesPerSession ?? null,
    sessionTableCapacity: s.sessionTable?.capacity ?? null,
    sessions: s.sessions,
    decodeErrors: s.decodeErrors,
    decodeErrorTotal,
    packets: s.packets,
    bytes: s.bytes,
    runs: runs.map((x) => ({ seconds: x.summary.seconds, wallSeconds: x.run.wallSeconds })),
    summary: best.raw,
  };
}

function describeFailure(run: TimedRun): string {
  const how = run.timedOut
    ? 'timed out'
    : run.signal
      ? `killed by ${run.signal}`
      : `exit code ${run.exitCode}`;
  const tail = run.stderrTail.trim().split('\n').slice(-3).join(' | ');
  return tail ? `${how}: ${tail}` : how;
}

function rate(packets: number, seconds: number): string {
  return `${(packets / seconds / 1e6).toFixed(2)} M packets/s`;
}


/** Which per-packet path the session table took ('native' or 'js'), from the summary's sessionTable.track. */
function trackPathOf(raw: unknown): string {
  const table = (raw as { sessionTable?: { track?: unknown } } | null)?.sessionTable;
  return typeof table?.track === 'string' ? table.track : 'unknown';
}
