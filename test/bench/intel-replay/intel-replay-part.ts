import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchPart, PartResult } from '../harness/part.js';
import { runTimed } from '../harness/exec.js';
import { warmPageCache } from '../harness/page-cache.js';
import { median } from '../harness/stats.js';
import { fmtFixed, renderTable } from '../harness/table.js';
import { ensureSyntheticPcap } from '../synthetic-pcap.js';

/**
 * Replay throughput with a 1 M-indicator intel set loaded against replay with none, on the same synthetic
 * capture, in rounds of the four replays back to back (at least MIN_PAIRED_RUNS rounds): the best of each, and
 * the median over the rounds of each round's own slowdown, the figure that a drift in the machine's speed moves
 * least. The pipeline's own `seconds` excludes loading the intel file, so the difference is the cost of matching
 * every session (goal: under 10 % slowdown). The indicators are
 * random public IPv4 addresses and /24s that the capture's hosts never hit, as in a real network where almost
 * every session is clean. Three sets:
 * - "clean /16s": none in the capture's 198.18.0.0/15, as for internal hosts, whose /16s threat intel does not
 *   list: matchV4 answers both endpoints from its /16 summary of exact keys.
 * - "servers' /16": 64 of them sit in the servers' /16 (in its unused upper half), as every public /16 holds
 *   some of a million random indicators: a session between an internal client and an internet server, where
 *   the server's lookup goes to the exact table.
 * - "both /16s": 64 in each of the clients' and the servers' /16s, so both endpoints' lookups go to the exact
 *   table. The worst case for the summary.
 */
const INDICATORS = 1_000_000;
/** Indicators placed in 198.19.128.0/17 (servers' /16), and in 198.18.128.0/17 too (clients' /16) for "both". */
const NEAR_HOSTS_PER_16 = 64;

type Near = 'none' | 'servers' | 'both';

async function ensureIntelFile(dir: string, count: number, near: Near = 'none'): Promise<string> {
  const path = join(dir, near === 'none' ? `intel-random-${count}.txt` : `intel-random-${count}-near-${near}-${NEAR_HOSTS_PER_16}.txt`);
  const nets = near === 'none' ? [] : near === 'servers' ? [0xc6138000] : [0xc6128000, 0xc6138000];
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  const out = createWriteStream(partial);
  let seed = 0x12345678;
  const next = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0), seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i < nets.length * NEAR_HOSTS_PER_16) {
      // Unused by the capture: clients are 198.18.1.0 up, servers 198.19.0.1 up, 30 k and 20 k of them; the
      // resolvers are 198.18.255.53 and .54, so stay below 198.18.255.0.
      const net = nets[Math.floor(i / NEAR_HOSTS_PER_16)]!;
      const a = (net + ((i % NEAR_HOSTS_PER_16) * 509 + 7) % 0x7f00) >>> 0;
      lines.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`);
      continue;
    }
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

/** Fewest runs for the paired median (see run()). */
const MIN_PAIRED_RUNS = 7;

export const intelReplayPart: BenchPart = {
  name: 'intel-replay',
  description: 'replay with a 1 M-indicator intel set against replay with none',
  async run(ctx: BenchContext): Promise<PartResult> {
    const count = ctx.options.quick ? 100_000 : INDICATORS;
    const capture = await ensureSyntheticPcap({ packets: ctx.options.packets, flows: ctx.options.flows, seed: ctx.options.seed });
    const intel = await ensureIntelFile(join(ctx.cacheDir, 'intel'), count);
    const intelServers = await ensureIntelFile(join(ctx.cacheDir, 'intel'), count, 'servers');
    const intelBoth = await ensureIntelFile(join(ctx.cacheDir, 'intel'), count, 'both');
    const cli = ctx.options.offpathCli ?? join(ctx.distRoot, 'src/cli/main.js');
    const variants = [
      { name: 'no intel', args: [] as string[] },
      { name: `${count / 1e6} M indicators, clean /16s`, args: ['--intel', intel, '--no-circuit-breaker'] },
      { name: `${count / 1e6} M indicators, some in the servers' /16`, args: ['--intel', intelServers, '--no-circuit-breaker'] },
      { name: `${count / 1e6} M indicators, some in both /16s`, args: ['--intel', intelBoth, '--no-circuit-breaker'] },
    ];
    const best = variants.map(() => ({ seconds: Infinity, pps: 0 }));
    // Every run's seconds, per variant: a run's variants go back to back, so their ratios within a run are less
    // exposed to this machine's drifting load than the best-of figures are.
    const all: number[][] = variants.map(() => []);
    // A slowdown is a ratio of two times that this machine moves by 10-30 % from one run to the next, so this part
    // takes at least MIN_PAIRED_RUNS runs whatever --runs says: the median of each run's own ratio needs them.
    const runs = ctx.options.quick ? ctx.options.runs : Math.max(ctx.options.runs, MIN_PAIRED_RUNS);
    for (let run = 0; run < runs; run++) {
      // The order rotates from run to run, so that no variant always goes first or last: a drift in this
      // machine's speed within a run would otherwise land on the same variants every time.
      for (let k = 0; k < variants.length; k++) {
        const i = (run + k) % variants.length;
        const v = variants[i]!;
        warmPageCache(capture.path);
        const r = await runTimed(process.execPath, [...ctx.options.nodeArgs, cli, 'replay', '--summary-json', '-q', ...v.args, capture.path], {
          cpu: ctx.options.pin ? ctx.options.cpu : undefined,
          timeoutSeconds: ctx.options.timeoutSeconds,
        });
        if (r.exitCode !== 0) return { status: 'failed', reason: `replay (${v.name}) exited ${r.exitCode}: ${r.stderrTail.slice(-300)}` };
        const s = JSON.parse(r.stdout) as { seconds: number; pps: number };
        if (s.seconds < best[i]!.seconds) best[i] = { seconds: s.seconds, pps: s.pps };
        all[i]!.push(s.seconds);
      }
    }
    // Slowdown of each variant against the first (no intel): from the best runs, and as the median of each run's own.
    const [, slowdown, slowdownServers, slowdownBoth] = best.map((b) => b.seconds / best[0]!.seconds - 1) as [number, number, number, number];
    ctx.log(renderTable(['replay', 'seconds', 'packets/s'], variants.map((v, i) => [v.name, fmtFixed(best[i]!.seconds, 3), fmtFixed(best[i]!.pps / 1e6, 2, ' M')])));
    const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
    const pairedMedian = all.map((times) => median(times.map((sec, run) => sec / all[0]![run]! - 1)));
    ctx.log(`slowdown with ${count.toLocaleString('en-US')} indicators (goal < 10 %), the median over the ${runs} runs of each run's own: ` +
      `${pct(pairedMedian[1]!)} with the hosts' /16s clean, ${pct(pairedMedian[2]!)} with indicators in the servers' /16, ` +
      `${pct(pairedMedian[3]!)} with indicators in both`);
    ctx.log(`from the best of ${runs} runs each: ${pct(slowdown)} clean, ${pct(slowdownServers)} servers' /16, ${pct(slowdownBoth)} both`);
    return {
      status: 'ok',
      data: { capture: capture.path, indicators: count, noIntel: best[0], withIntel: best[1], withIntelServers16: best[2], withIntelBoth16: best[3],
        slowdown, slowdownServers16: slowdownServers, slowdownBoth16: slowdownBoth,
        secondsPerRun: Object.fromEntries(variants.map((v, i) => [v.name, all[i]])),
        medianRunSlowdown: { clean: pairedMedian[1], servers16: pairedMedian[2], both16: pairedMedian[3] } },
    };
  },
};
