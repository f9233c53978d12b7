/**
 * Every benchmark part `run.ts` knows, in the order they run. To add one (sensor, redis, api...):
 * - in-process: write a module exporting a BenchPart (see harness/part.ts and engine/engine-part.ts) and list it;
 * - as its own script: write test/bench/NAME-bench.ts that prints one JSON object on stdout when run, and list
 *   `scriptPart('NAME', 'what it measures', 'NAME-bench.js')`.
 * `--only NAME` then runs just that part.
 */
import { blockingPart } from '../blocking/blocking-part.js';
import { capturePart } from '../blocking/capture-part.js';
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
  scriptPart('redis', 'fleet intel in Redis: snapshot loads of 1 M / 5 M, propagation lag (test/bench/redis-bench.ts)', 'redis-bench.js', {
    quickArgs: ['--quick'],
  }),
  scriptPart('api', 'blocking API: check and upserts vs a bare Fastify route at 0 / 100 k / 1 M entries, bulk import, propagation (test/bench/api-bench.ts)', 'api-bench.js', {
    quickArgs: ['--quick'],
  }),
  blockingPart,
  capturePart,
];

export function findPart(name: string): BenchPart | undefined {
  return BENCH_PARTS.find((p) => p.name === name);
}
