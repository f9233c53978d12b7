import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchPart, PartResult } from '../harness/part.js';
import { runTimed } from '../harness/exec.js';
import { fmtFixed, renderTable } from '../harness/table.js';
import { ensureSyntheticPcap } from '../synthetic-pcap.js';

/**
 * Replay throughput with a 1 M-indicator intel set loaded against replay with none, on the same synthetic
 * capture, runs alternating, best of N each. The pipeline's own `seconds` excludes loading the intel file,
 * so the difference is the cost of matching every session (goal: under 10 % slowdown). The indicators are
 * random public IPv4 addresses and /24s that the capture's hosts (198.18.0.0/15) never hit, as in a real
 * network where almost every session is clean.
 */
const INDICATORS = 1_000_000;

async function ensureIntelFile(dir: string, count: number): Promise<string> {
  const path = join(dir, `intel-random-${count}.txt`);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  const out = createWriteStream(partial);
  let seed = 0x12345678;
  const next = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0), seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    let a: number;
    do a = next(); while (a >>> 17 === 0xc612 >>> 1 || a >>> 24 === 0 || a >>> 24 >= 224); // not 198.18/15, 0/8, multicast
    const text = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    lines.push(i % 10 === 0 ? `${text.replace(/\.\d+$/, '.0')}/24` : text);
    if (lines.length === 10_000) {
      if (!out.write(lines.join('\n') + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
      lines.length = 0;
    }
  }
  out.end(lines.join('\n') + '\n');
  await new Promise<void>((r) => out.once('finish', () => r()));
  renameSync(partial, path);
  return path;
}

export const intelReplayPart: BenchPart = {
  name: 'intel-replay',
  description: 'replay with a 1 M-indicator intel set against replay with none',
  async run(ctx: BenchContext): Promise<PartResult> {
    const count = ctx.options.quick ? 100_000 : INDICATORS;
    const capture = await ensureSyntheticPcap({ packets: ctx.options.packets, flows: ctx.options.flows, seed: ctx.options.seed });
    const intel = await ensureIntelFile(join(ctx.cacheDir, 'intel'), count);
    const cli = ctx.options.offpathCli ?? join(ctx.distRoot, 'src/cli/main.js');
    const variants = [
      { name: 'no intel', args: [] as string[] },
      { name: `${count / 1e6} M indicators`, args: ['--intel', intel, '--no-circuit-breaker'] },
    ];
    const best = variants.map(() => ({ seconds: Infinity, pps: 0 }));
    for (let run = 0; run < ctx.options.runs; run++) {
      for (const [i, v] of variants.entries()) {
        const r = await runTimed(process.execPath, [...ctx.options.nodeArgs, cli, 'replay', '--summary-json', '-q', ...v.args, capture.path], {
          cpu: ctx.options.pin ? ctx.options.cpu : undefined,
          timeoutSeconds: ctx.options.timeoutSeconds,
        });
        if (r.exitCode !== 0) return { status: 'failed', reason: `replay (${v.name}) exited ${r.exitCode}: ${r.stderrTail.slice(-300)}` };
        const s = JSON.parse(r.stdout) as { seconds: number; pps: number };
        if (s.seconds < best[i]!.seconds) best[i] = { seconds: s.seconds, pps: s.pps };
      }
    }
    const slowdown = best[1]!.seconds / best[0]!.seconds - 1;
    ctx.log(renderTable(['replay', 'seconds', 'packets/s'], variants.map((v, i) => [v.name, fmtFixed(best[i]!.seconds, 3), fmtFixed(best[i]!.pps / 1e6, 2, ' M')])));
    ctx.log(`slowdown with ${count.toLocaleString('en-US')} indicators: ${(slowdown * 100).toFixed(1)} % (goal < 10 %)`);
    return { status: 'ok', data: { capture: capture.path, indicators: count, noIntel: best[0], withIntel: best[1], slowdown } };
  },
};
