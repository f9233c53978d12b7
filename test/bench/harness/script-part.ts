/**
 * A benchmark part that lives in its own script (e.g. test/bench/intel-bench.ts, compiled to
 * dist/test/bench/intel-bench.js): run it with node as a child process, let its stderr through (its own
 * progress and tables), and take the one JSON object it prints on stdout as its figures.
 *
 * The child always learns about the run through its environment (OFFPATH_BENCH_QUICK=1 for --quick,
 * OFFPATH_BENCH_CACHE_DIR for scratch space); arguments are passed only when the part declares them, so a
 * script that takes no options is not broken by them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchPart, PartResult } from './part.js';

export interface ScriptPartOptions {
  /** Options for node itself (e.g. --expose-gc). */
  nodeArgs?: string[];
  /** Arguments for the script on every run, and added with --quick. */
  args?: string[];
  quickArgs?: string[];
}

export function scriptPart(
  name: string,
  description: string,
  scriptUnderBenchDir: string,
  options: ScriptPartOptions = {},
): BenchPart {
  return {
    name,
    description,
    run: (ctx) => runScriptPart(ctx, scriptUnderBenchDir, options),
  };
}

async function runScriptPart(ctx: BenchContext, script: string, options: ScriptPartOptions): Promise<PartResult> {
  const path = join(ctx.distRoot, 'test', 'bench', script);
  if (!existsSync(path)) {
    const source = join('test', 'bench', script.replace(/\.js$/, '.ts'));
    return { status: 'skipped', reason: `${path} does not exist (is ${source} written and compiled?)` };
  }
  const argv = [
    ...(options.nodeArgs ?? []),
    path,
    ...(options.args ?? []),
    ...(ctx.options.quick ? (options.quickArgs ?? []) : []),
  ];
  ctx.log(`running node ${argv.join(' ')}`);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      OFFPATH_BENCH_QUICK: ctx.options.quick ? '1' : '0',
      OFFPATH_BENCH_CACHE_DIR: ctx.cacheDir,
    },
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  const timer = setTimeout(() => child.kill('SIGKILL'), ctx.options.timeoutSeconds * 1000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  }).finally(() => clearTimeout(timer));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stdout = Buffer.concat(out).toString('utf8').trim();

  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    const lastLine = stdout.split('\n').pop() ?? '';
    try {
      data = JSON.parse(lastLine);
    } catch {
      data = undefined;
    }
  }
  if (code !== 0) {
    return { status: 'failed', reason: `${script} ${signal ? `killed by ${signal}` : `exited with ${code}`}`, data };
  }
  if (data === undefined) return { status: 'failed', reason: `${script} printed no JSON object on stdout` };
  return { status: 'ok', data: { seconds, result: data } };
}
