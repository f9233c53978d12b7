/**
 * Benchmark part "engine": offpath's replay pipeline against the libpcap floor, per capture.
 * See measure.ts for what is timed and how, captures.ts for which captures.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findExecutable } from '../harness/exec.js';
import type { BenchContext, BenchPart, PartResult } from '../harness/part.js';
import { collectCaptures } from './captures.js';
import { measureCapture, type CaptureFigures, type Tools } from './measure.js';
import { engineTable } from './report.js';

/** The CLI under test, relative to dist/. */
export const OFFPATH_CLI = join('src', 'cli', 'main.js');

export const enginePart: BenchPart = {
  name: 'engine',
  description: 'replay pipeline throughput vs. tcpdump, per capture (synthetic + pcaps/)',
  run: runEngineBench,
};

async function runEngineBench(ctx: BenchContext): Promise<PartResult> {
  const problems: string[] = [];
  const cliPath = ctx.options.offpathCli ? resolve(ctx.options.offpathCli) : join(ctx.distRoot, OFFPATH_CLI);
  const tools: Tools = {
    tcpdump: findExecutable('tcpdump'),
    offpathCli: existsSync(cliPath) ? cliPath : undefined,
    cpu: ctx.options.pin ? ctx.options.cpu : undefined,
  };
  if (!tools.tcpdump) problems.push('tcpdump not found on PATH: no libpcap floor (apt-get install tcpdump)');
  if (!tools.offpathCli) {
    problems.push(`offpath CLI not built: ${cliPath} is missing (npm run build; the replay command must exist)`);
  }

  const { captures, problems: captureProblems, skipped } = await collectCaptures(ctx);
  problems.push(...captureProblems);
  for (const note of skipped) ctx.log(note);

  const results: CaptureFigures[] = [];
  for (const capture of captures) {
    ctx.log(`\n${capture.name}: ${capture.packets} packets, ${(capture.fileBytes / 2 ** 20).toFixed(0)} MiB`);
    const figures = await measureCapture(ctx, capture, tools);
    results.push(figures);
    problems.push(...figures.problems.map((p) => `${capture.name}: ${p}`));
  }

  if (results.length > 0) ctx.log(`\n${engineTable(results)}`);
  for (const p of problems) ctx.log(`problem: ${p}`);

  const synthetic = captures.find((c) => c.synthetic)?.synthetic;
  const data = {
    cpu: tools.cpu ?? null,
    runs: ctx.options.runs,
    quick: ctx.options.quick,
    offpathCli: tools.offpathCli ?? null,
    syntheticCapture: synthetic ?? null,
    captures: results,
    skippedCaptures: skipped,
    problems,
  };
  // Failed when a measurement is missing or suspect; every figure that could be taken is still in `data`.
  const incomplete = results.length === 0 || !tools.offpathCli || !tools.tcpdump || problems.length > 0;
  return incomplete
    ? { status: 'failed', reason: problems[0] ?? 'no capture could be measured', data }
    : { status: 'ok', data };
}
