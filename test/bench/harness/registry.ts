/**
 * Every benchmark part `run.ts` knows, in the order they run. To add one (sensor, redis, api...):
 * - in-process: write a module exporting a BenchPart (see harness/part.ts and engine/engine-part.ts) and list it;
 * - as its own script: write test/bench/NAME-bench.ts that prints one JSON object on stdout when run, and list
 *   `scriptPart('NAME', 'what it measures', 'NAME-bench.js')`.
 * `--only NAME` then runs just that part.
 */
import { enginePart } from '../engine/engine-part.js';
import { intelReplayPart } from '../intel-replay/intel-replay-part.js';
import type { BenchPart } from './part.js';
import { scriptPart } from './script-part.js';

export const BENCH_PARTS: readonly BenchPart[] = [
  enginePart,
  scriptPart('intel', 'threat-intel matching (test/bench/intel-bench.ts)', 'intel-bench.js', {
    nodeArgs: ['--expose-gc'], // it measures heap per entry
    quickArgs: ['--quick'],
  }),
  intelReplayPart,
];

export function findPart(name: string): BenchPart | undefined {
  return BENCH_PARTS.find((p) => p.name === name);
}
