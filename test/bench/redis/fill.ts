/**
 * Fills Redis with N synthetic intel records in the store's schema, fast (pipelined HSET of pre-encoded records,
 * no change events): for snapshot benchmarks, where how the records got there does not matter.
 * Entries look like a feed's: unique IPv4 addresses (with some CIDRs), 8 sources, 40 reasons, 12 tag sets, and
 * an expiry on one entry in two.
 */
import type { RedisClient } from '../../../src/intel/redis/connection.js';
import { TAG_SEPARATOR } from '../../../src/intel/redis/record-codec.js';
import { identityField, intelKeys, SCHEMA_VERSION, SHARD_COUNT, shardOf } from '../../../src/intel/redis/schema.js';

export const SOURCES = Array.from({ length: 8 }, (_, i) => `feed-${i}`);
export const REASONS = Array.from({ length: 40 }, (_, i) => `reason ${i}: known malicious infrastructure`);
export const TAGS = Array.from({ length: 12 }, (_, i) => [`family-${i % 5}`, `tier-${i % 3}`].join(TAG_SEPARATOR));

/** Odd multiplier: i -> i * K mod 2^32 is a bijection, so addresses are unique. */
export function spreadV4(i: number): number {
  return (Math.imul(i, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
}

export function v4Text(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export async function fillRecords(client: RedisClient, count: number, options: { prefix?: string; nowSeconds?: number; onProgress?: (done: number) => void } = {}): Promise<void> {
  const keys = intelKeys(options.prefix);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const ms = Date.now();
  const perShard: string[][] = Array.from({ length: SHARD_COUNT }, () => []);
  let pipeline = client.pipeline();
  let queued = 0;
  const flushShard = (shard: number): void => {
    const args = perShard[shard]!;
    if (args.length === 0) return;
    pipeline.hset(keys.shards[shard]!, ...args);
    perShard[shard] = [];
    queued++;
  };
  for (let i = 0; i < count; i++) {
    const ip = spreadV4(i);
    // One entry in 64 is a /24 network (different key space), the rest single addresses.
    const indicator = i % 64 === 63 ? `${v4Text(ip & 0xffffff00)}/24` : v4Text(ip);
    const source = SOURCES[i & 7]!;
    const field = identityField(source, indicator);
    const expires = i % 2 === 0 ? now + 86400 + (i % 7) * 3600 : 0;
    const value = `${source}\t\t${indicator}\tblock\t${expires}\t${REASONS[i % 40]}\t${TAGS[i % 12]}\t${ms}\t${ms}\tbench\t${i + 1}`;
    const shard = shardOf(field);
    const list = perShard[shard]!;
    list.push(field, value);
    if (list.length >= 1000) flushShard(shard);
    if (queued >= 64) {
      await pipeline.exec();
      pipeline = client.pipeline();
      queued = 0;
      options.onProgress?.(i + 1);
    }
  }
  for (let s = 0; s < SHARD_COUNT; s++) flushShard(s);
  await pipeline.exec();
  await client.hset(keys.meta, 'schema', String(SCHEMA_VERSION), 'shards', String(SHARD_COUNT), 'epoch', String(ms), 'version', String(count));
}
