/**
 * `npm run bench`: runs the registered benchmark parts (harness/registry.ts), prints readable progress and tables
 * on stderr, one JSON object with every figure on stdout, and writes the same JSON to bench-results.json in a
 * fresh temp directory (never in the repository).
 *
 *   node dist/test/bench/run.js                 all parts, full size
 *   node dist/test/bench/run.js --only engine   one part
 *   node dist/test/bench/run.js --quick         small captures: does the benchmark still work?
 *
 * Exit code: 0 when every part that ran is ok (skipped parts are fine), 1 when one failed, 2 on bad usage.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, UsageError, USAGE, type BenchOptions } from './harness/args.js';
import { findExecutable, hasGnuTime, hasTaskset, toolVersion } from './harness/exec.js';
import type { BenchContext, PartResult } from './harness/part.js';
import { BENCH_PARTS, findPart } from './harness/registry.js';
import { benchCacheDir } from './synthetic-pcap.js';

/** dist/test/bench/run.js -> dist/ and the repository root above it. */
const DIST_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPO_ROOT = dirname(DIST_ROOT);

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
    for (const name of options.only) {
      if (!findPart(name)) throw new UsageError(`unknown part "${name}" (parts: ${BENCH_PARTS.map((p) => p.name).join(', ')})`);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    log(`bench: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    const parts = BENCH_PARTS.map((p) => `  ${p.name.padEnd(10)} ${p.description}`).join('\n');
    process.stdout.write(`${USAGE}\n\nparts:\n${parts}\n`);
    return 0;
  }
  const cpuCount = cpus().length;
  if (options.pin) {
    options.cpu ??= cpuCount - 1;
    if (options.cpu >= cpuCount) {
      log(`bench: --cpu ${options.cpu}: this machine has CPUs 0..${cpuCount - 1}`);
      return 2;
    }
    if (!hasTaskset) {
      log('bench: taskset not found (util-linux): measured processes are not pinned');
      options.cpu = undefined;
    }
  } else {
    options.cpu = undefined;
  }

  const ctx: BenchContext = { options, repoRoot: REPO_ROOT, distRoot: DIST_ROOT, cacheDir: benchCacheDir(), log };
  const environment = describeEnvironment(options);
  log(`offpath benchmark — ${environment.cpuModel} x${cpuCount}, node ${process.version}, ` +
    `${options.cpu === undefined ? 'not pinned' : `pinned to CPU ${options.cpu}`}${options.quick ? ', QUICK' : ''}`);

  const startedAt = new Date().toISOString();
  const selected = options.only.length > 0 ? BENCH_PARTS.filter((p) => options.only.includes(p.name)) : BENCH_PARTS;
  const parts: Record<string, PartResult & { seconds: number }> = {};
  for (const part of selected) {
    log(`\n=== ${part.name}: ${part.description}`);
    const started = process.hrtime.bigint();
    let result: PartResult;
    try {
      result = await part.run(ctx);
    } catch (err) {
      result = { status: 'failed', reason: `threw: ${(err as Error).stack ?? String(err)}` };
    }
    parts[part.name] = { ...result, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  }

  const report = { startedAt, finishedAt: new Date().toISOString(), options, environment, parts };
  const json = JSON.stringify(report, null, 2);
  const resultsDir = mkdtempSync(join(tmpdir(), 'offpath-bench-results-'));
  const resultsFile = join(resultsDir, 'bench-results.json');
  writeFileSync(resultsFile, `${json}\n`);
  process.stdout.write(`${json}\n`);

  log('\n=== summary');
  for (const [name, r] of Object.entries(parts)) {
    log(`${name.padEnd(10)} ${r.status.toUpperCase().padEnd(8)} ${r.seconds.toFixed(1).padStart(7)} s  ${r.reason ?? ''}`);
  }
  log(`results: ${resultsFile}`);
  return Object.values(parts).some((r) => r.status === 'failed') ? 1 : 0;
}

function describeEnvironment(options: BenchOptions): Record<string, unknown> {
  const tcpdump = findExecutable('tcpdump');
  const git = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cpuCount: cpus().length,
    pinnedCpu: options.cpu ?? null,
    tcpdump: tcpdump ? toolVersion(tcpdump) ?? null : null,
    peakRssFrom: hasGnuTime ? 'GNU time (/usr/bin/time)' : null,
    gitCommit: git.status === 0 ? git.stdout.trim() : null,
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 70;
  },
);
