/**
 * The contract between the benchmark runner (run.ts) and its parts (engine, intel, and later sensor, redis,
 * api...). A part is a named module with one `run(ctx)`; it measures, prints its own readable table through
 * `ctx.log`, and returns its figures as plain JSON data for bench-results.json.
 */
import type { BenchOptions } from './args.js';

export interface BenchContext {
  options: BenchOptions;
  /** Repository root (where package.json is). */
  repoRoot: string;
  /** Compiled output root: dist/ in the repository. */
  distRoot: string;
  /** Scratch and cache space in the temp directory; never inside the repository. */
  cacheDir: string;
  /** Readable progress and tables: stderr, so stdout stays one JSON document. */
  log(line: string): void;
}

export type PartStatus = 'ok' | 'failed' | 'skipped';

export interface PartResult {
  status: PartStatus;
  /** Why a part failed or was skipped, in one sentence that says what to do. */
  reason?: string;
  /** The figures: any JSON-serialisable value. */
  data?: unknown;
}

export interface BenchPart {
  /** Used with --only; lower case, no spaces. */
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<PartResult>;
}
