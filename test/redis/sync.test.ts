/**
 * RedisIntelSync against real redis-servers: propagation, convergence of several sensors, resyncs (FLUSHALL,
 * trimmed stream), stalls (SIGSTOP), malformed data, local expiry and the disk cache. Every wait is for a
 * condition (with a generous safety timeout), never for a duration.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IntelSet } from '../../src/intel/intel-set.js';
import type { RedisConnectionOptions } from '../../src/intel/redis/connection.js';
import { RedisIntelStore } from '../../src/intel/redis/intel-store.js';
import { RedisIntelSync, type RedisIntelSyncOptions } from '../../src/intel/redis/intel-sync.js';
import { shardOf } from '../../src/intel/redis/schema.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { contentOf, memoryLog, uniqueName, waitUntil } from './helpers.js';

const meta = { actor: 'tester' };
const tmp = mkdtempSync(join(tmpdir(), 'offpath-sync-'));
const servers: RedisServer[] = [];
const closers: (() => Promise<void>)[] = [];
let shared: RedisServer;

beforeAll(async () => {
  shared = await startRedisServer();
  servers.push(shared);
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  for (const s of servers) await s.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

async function server(options: Parameters<typeof startRedisServer>[0] = {}): Promise<RedisServer> {
  const s = await startRedisServer(options);
  servers.push(s);
  return s;
}

function connection(s: RedisServer, prefix: string): RedisConnectionOptions {
  return { url: s.url, keyPrefix: prefix, commandTimeoutMs: 1000, connectTimeoutMs: 1000 };
}

function store(s: RedisServer, prefix: string, options: ConstructorParameters<typeof RedisIntelStore>[1] = {}): RedisIntelStore {
  const st = RedisIntelStore.connect(connection(s, prefix), options);
  closers.push(() => st.close());
  return st;
}

function sensor(s: RedisServer, prefix: string, extra: Partial<RedisIntelSyncOptions> = {}): RedisIntelSync {
  const sync = new RedisIntelSync({ redis: connection(s, prefix), set: new IntelSet(), log: memoryLog(), ...extra });
  closers.push(() => sync.close());
  return sync;
}

/** What Redis holds, as a freshly started sensor sees it. */
async function reference(s: RedisServer, prefix: string): Promise<IntelSet> {
  const r = new RedisIntelSync({ redis: connection(s, prefix), set: new IntelSet() });
  await r.start();
  await r.close();
  return r.set;
}

const ip = (n: number): string => `198.18.${(n >> 8) & 255}.${n & 255}`;
const v4 = (n: number): number => (((198 << 24) | (18 << 16) | (n & 0xffff)) >>> 0);

describe('RedisIntelSync', () => {
  test('adds and removes propagate; matching sees them', async () => {
    const prefix = uniqueName('p');
    const writer = store(shared, prefix);
    await writer.upsert({ indicator: ip(1) }, meta);
    const s = sensor(shared, prefix);
    const started = await s.start();
    expect(started).toMatchObject({ state: 'live', startedFrom: 'redis', versionApplied: 1, entries: 1 });
    expect(s.set.matchV4(v4(1))).toBeGreaterThanOrEqual(0);
    const added = await writer.upsert({ indicator: ip(2), action: 'allow' }, meta);
    expect(await s.waitForVersion(added.version, 20_000)).toBe(true);
    expect(s.set.actionOf(s.set.matchV4(v4(2)))).toBe('allow');
    const removed = await writer.remove('manual', ip(1), meta);
    expect(await s.waitForVersion(removed.version, 20_000)).toBe(true);
    expect(s.set.matchV4(v4(1))).toBe(-1);
    expect(s.status()).toMatchObject({ changesApplied: 2, resyncs: 0, skippedMalformed: 0 });
  }, 60_000);

  test('three sensors converge to the same version, the same digest and the content Redis holds', async () => {
    const prefix = uniqueName('p');
    const writer = store(shared, prefix);
    await writer.upsertMany(Array.from({ length: 500 }, (_, i) => ({ indicator: ip(i), source: `f${i % 3}` })), meta);
    const sensors = [sensor(shared, prefix), sensor(shared, prefix), sensor(shared, prefix)];
    await Promise.all(sensors.map((s) => s.start()));
    // Changes of every kind while they follow: adds, updates (action, tags, expiry), removes, other kinds.
    for (let i = 0; i < 2000; i++) {
      const n = i % 700;
      if (i % 5 === 4) await writer.remove(`f${n % 3}`, ip(n), meta);
      else await writer.upsert({ indicator: ip(n), source: `f${n % 3}`, action: i % 3 === 0 ? 'monitor' : 'block', tags: i % 4 === 0 ? ['t'] : [], expires: i % 7 === 0 ? 4_000_000_000 : undefined }, meta);
      if (i % 250 === 0) await writer.upsert({ indicator: `[2001:2::${i.toString(16)}]:443/tcp`, source: 'soc', id: `case-${i}` }, meta);
    }
    const version = await writer.version();
    await waitUntil(() => sensors.every((s) => s.status().versionApplied === version), 'all sensors at the last version');
    const ref = await reference(shared, prefix);
    for (const s of sensors) {
      expect(s.set.digest()).toBe(ref.digest());
      expect(contentOf(s.set)).toEqual(contentOf(ref));
    }
    expect(ref.size).toBe((await writer.status()).entries);
  }, 120_000);

  test('FLUSHALL: every sensor resyncs to what Redis holds afterwards', async () => {
    const s1 = await server();
    const prefix = uniqueName('p');
    const writer = store(s1, prefix);
    await writer.upsertMany(Array.from({ length: 100 }, (_, i) => ({ indicator: ip(i) })), meta);
    const sensors = [sensor(s1, prefix), sensor(s1, prefix)];
    await Promise.all(sensors.map((s) => s.start()));
    expect(sensors[0]!.set.size).toBe(100);
    await s1.cli('FLUSHALL');
    // Empty Redis is the truth now: both drop everything (detected by the idle check of the meta hash).
    await waitUntil(() => sensors.every((s) => s.set.size === 0 && s.status().resyncs >= 1), 'sensors emptied after FLUSHALL');
    await writer.upsert({ indicator: ip(500) }, meta);
    const v = await writer.upsert({ indicator: ip(501) }, meta);
    for (const s of sensors) expect(await s.waitForVersion(v.version, 20_000)).toBe(true);
    await waitUntil(() => sensors.every((s) => s.set.size === 2), 'new epoch applied');
    const ref = await reference(s1, prefix);
    for (const s of sensors) {
      expect(s.set.digest()).toBe(ref.digest());
      expect(s.status().epoch).toBe((await writer.status()).epoch);
    }
  }, 60_000);

  test('FLUSHALL followed at once by writes (no idle moment) still resyncs: the new epoch is seen in event IDs', async () => {
    const s1 = await server();
    const prefix = uniqueName('p');
    const writer = store(s1, prefix);
    await writer.upsertMany(Array.from({ length: 50 }, (_, i) => ({ indicator: ip(i) })), meta);
    const s = sensor(s1, prefix, { blockMs: 5000 });
    await s.start();
    await s1.cli('FLUSHALL');
    await writer.upsertMany(Array.from({ length: 10 }, (_, i) => ({ indicator: ip(1000 + i) })), meta);
    await waitUntil(() => s.set.size === 10 && s.status().resyncs >= 1, 'resynced to the new epoch');
    expect(s.set.find('manual', ip(1))).toBe(-1);
  }, 60_000);

  test('a position trimmed out of the stream leads to a full resync, and nothing is missed', async () => {
    const prefix = uniqueName('p');
    const writer = store(shared, prefix, { streamMaxLength: 1000, batchSize: 4000 });
    await writer.upsert({ indicator: ip(0) }, meta);
    const s = sensor(shared, prefix);
    await s.start();
    // One script call writes 4000 changes and trims the stream to ~1000: the sensor's next read finds a gap.
    await writer.upsertMany(Array.from({ length: 4000 }, (_, i) => ({ indicator: ip(i + 1) })), meta);
    const version = await writer.version();
    await waitUntil(() => s.status().versionApplied === version, 'caught up');
    expect(s.status().resyncs).toBeGreaterThanOrEqual(1);
    expect(s.set.size).toBe(4001);
    expect(s.set.digest()).toBe((await reference(shared, prefix)).digest());
  }, 60_000);

  test('malformed records and events are skipped and counted, never a crash', async () => {
    const prefix = uniqueName('p');
    const writer = store(shared, prefix);
    await writer.upsertMany(Array.from({ length: 20 }, (_, i) => ({ indicator: ip(i) })), meta);
    const shard = (field: string): string => writer.keys.shards[shardOf(field)]!;
    // Garbage written around the store: bad field, bad record, a key of the wrong type.
    await writer.client.hset(shard('no-tab'), 'no-tab', 'x');
    await writer.client.hset(shard('bad\trecord'), 'bad\trecord', 'not\ta\trecord');
    await writer.client.hset(shard(`manual\t${ip(3)}`), `manual\t${ip(3)}`, `manual\t\t${ip(3)}\tobliterate\t0\t\t\t1\t1\tx\t1`);
    await writer.client.del(writer.keys.shards[200]!);
    await writer.client.set(writer.keys.shards[200]!, 'a string where a hash belongs');
    const s = sensor(shared, prefix);
    await s.start();
    expect(s.status().skippedMalformed).toBe(4);
    expect(s.set.size).toBe(19 - [...Array(20).keys()].filter((i) => i !== 3 && shardOf(`manual\t${ip(i)}`) === 200).length);
    // A malformed event in the stream, with the right version so nothing else is disturbed.
    const v = Number(await writer.client.hincrby(writer.keys.meta, 'version', 1));
    const epoch = (await writer.status()).epoch!;
    await writer.client.xadd(writer.keys.stream, `${epoch}-${v}`, 'o', 'u', 'k', `manual\t${ip(5)}`, 'r', 'garbage');
    const after = await writer.upsert({ indicator: ip(100) }, meta);
    expect(await s.waitForVersion(after.version, 20_000)).toBe(true);
    expect(s.status().skippedMalformed).toBe(5);
    expect(s.set.find('manual', ip(5))).toBe(-1); // its entry is dropped, as a snapshot would skip it
    expect(s.set.find('manual', ip(100))).toBeGreaterThanOrEqual(0);
    expect(s.status().state).toBe('live');
  }, 60_000);

  test('a stalled Redis (SIGSTOP): sensors keep enforcing, report stale, and recover after SIGCONT', async () => {
    const s1 = await server();
    const prefix = uniqueName('p');
    const writer = store(s1, prefix);
    await writer.upsertMany(Array.from({ length: 100 }, (_, i) => ({ indicator: ip(i) })), meta);
    const sensors = [sensor(s1, prefix), sensor(s1, prefix)];
    await Promise.all(sensors.map((s) => s.start()));
    s1.kill('SIGSTOP');
    try {
      await waitUntil(() => sensors.every((s) => s.status().state === 'stale' && !s.status().connected), 'sensors notice the stall');
      for (const s of sensors) {
        expect(s.set.size).toBe(100);
        expect(s.set.matchV4(v4(42))).toBeGreaterThanOrEqual(0);
        expect(s.status().staleSeconds).not.toBeNull();
      }
    } finally {
      s1.kill('SIGCONT');
    }
    const v = await writer.upsert({ indicator: ip(4000) }, meta);
    for (const s of sensors) expect(await s.waitForVersion(v.version, 30_000)).toBe(true);
    await waitUntil(() => sensors.every((s) => s.status().state === 'live'), 'sensors live again');
    for (const s of sensors) {
      expect(s.set.size).toBe(101);
      expect(s.status().resyncs).toBe(0); // resumed from the last applied event
    }
  }, 90_000);

  test('expiry is applied locally by time, also while Redis is unreachable', async () => {
    const s1 = await server();
    const prefix = uniqueName('p');
    const writer = store(s1, prefix);
    await writer.upsert({ indicator: ip(1), expires: '2s' }, meta);
    await writer.upsert({ indicator: ip(2) }, meta);
    const s = sensor(s1, prefix);
    await s.start();
    expect(s.set.size).toBe(2);
    await s1.stop();
    await waitUntil(() => s.set.find('manual', ip(1)) === -1, 'the expiring entry leaves the set', 20_000);
    expect(s.set.find('manual', ip(2))).toBeGreaterThanOrEqual(0);
    expect(s.status().state).not.toBe('live');
  }, 60_000);

  test('disk cache: a sensor restarting while Redis is down enforces the last good set and says how stale it is', async () => {
    const s1 = await server({ persistence: 'aof-always' });
    const prefix = uniqueName('p');
    const cacheFile = join(tmp, `${prefix}.cache`);
    const writer = store(s1, prefix);
    await writer.upsertMany(Array.from({ length: 300 }, (_, i) => ({ indicator: ip(i), reason: `r${i % 4}`, tags: i % 2 ? ['x'] : [] })), meta);
    await writer.upsert({ indicator: 'evil.example.com', action: 'monitor', source: 'soc', id: 'T-9', expires: '1d' }, meta);
    const first = sensor(s1, prefix, { cacheFile });
    await first.start();
    await first.flushCache();
    const expected = contentOf(first.set);
    const digest = first.set.digest();
    await first.close();
    await s1.stop();

    const log = memoryLog();
    const second = sensor(s1, prefix, { cacheFile, log });
    const status = await second.start();
    expect(status).toMatchObject({ startedFrom: 'cache', state: 'stale', connected: false, entries: 301 });
    expect(status.staleSeconds).toBeGreaterThanOrEqual(0);
    expect(contentOf(second.set)).toEqual(expected);
    expect(second.set.digest()).toBe(digest);
    expect(log.lines.some((l) => l.obj.event === 'intel-cache-loaded')).toBe(true);

    // Redis back (with its data): the sensor resyncs and goes live.
    await s1.restart();
    const v = await writer.upsert({ indicator: ip(999) }, meta);
    expect(await second.waitForVersion(v.version, 30_000)).toBe(true);
    await waitUntil(() => second.status().state === 'live', 'live after Redis returns');
    expect(second.set.size).toBe(302);
    expect(second.status().resyncs).toBe(1);
  }, 90_000);

  test('an unusable cache file is refused as a whole; with Redis down and no cache the sensor waits empty', async () => {
    const dead = await server();
    await dead.stop();
    const truncated = join(tmp, 'truncated.cache');
    writeFileSync(truncated, '{"offpathIntelCache":1,"epoch":"1","version":1,"streamId":"1-1","syncedAt":1}\nu\tmanual\t\t198.18.0.1\tblock\t0\t\t\t0\t0\t\t0\n');
    const log = memoryLog();
    const s = sensor(dead, uniqueName('p'), { cacheFile: truncated, log });
    const status = await s.start();
    expect(status).toMatchObject({ startedFrom: 'none', state: 'connecting', entries: 0 });
    expect(log.lines.some((l) => l.obj.event === 'intel-cache-failed')).toBe(true);
    const none = sensor(dead, uniqueName('p'));
    expect((await none.start()).startedFrom).toBe('none');
  }, 30_000);

  test('out-of-scope entries (intel files sharing the set) survive a resync', async () => {
    const s1 = await server();
    const prefix = uniqueName('p');
    const writer = store(s1, prefix);
    await writer.upsert({ indicator: ip(1), source: 'fleet' }, meta);
    const set = new IntelSet();
    set.upsert({ indicator: ip(50), source: 'local.txt', action: 'allow' });
    const s = sensor(s1, prefix, { set, scope: (src) => src !== 'local.txt' });
    await s.start();
    expect(set.size).toBe(2);
    await s1.cli('FLUSHALL');
    await waitUntil(() => s.status().resyncs >= 1 && set.find('fleet', ip(1)) === -1, 'resynced');
    expect(set.find('local.txt', ip(50))).toBeGreaterThanOrEqual(0);
  }, 60_000);

  test('metrics: entries by kind and action, version, lag, connection state, resyncs', async () => {
    const prefix = uniqueName('p');
    const writer = store(shared, prefix);
    await writer.upsert({ indicator: ip(1) }, meta);
    const registry = new Registry();
    const s = sensor(shared, prefix, { registry });
    await s.start();
    const v = await writer.upsert({ indicator: '198.19.0.0/24', action: 'monitor' }, meta);
    await s.waitForVersion(v.version, 20_000);
    const text = await registry.metrics();
    expect(text).toMatch(/offpath_intel_entries\{kind="ipv4",action="block"\} 1/);
    expect(text).toMatch(/offpath_intel_entries\{kind="cidr4",action="monitor"\} 1/);
    expect(text).toMatch(new RegExp(`offpath_intel_version ${v.version}`));
    expect(text).toMatch(/offpath_intel_sync_lag_seconds_count 1/);
    expect(text).toMatch(/offpath_intel_redis_connected 1/);
    expect(text).toMatch(/offpath_intel_sync_state\{state="live"\} 1/);
    expect(text).toMatch(/offpath_intel_changes_applied_total\{op="upsert"\} 1/);
    expect(text).toMatch(/offpath_intel_cache_age_seconds -1/);
    expect(text).toMatch(/offpath_intel_stale_seconds 0/);
    expect(text).toContain('offpath_intel_resyncs_total');
    expect(text).toContain('offpath_intel_sync_malformed_total 0');
  }, 30_000);
});
