/**
 * The bulk write path against a real redis-server: one script call per batch writes records, the expiry index and
 * batch change events; it must mean exactly what the same upserts one by one mean (duplicates in one call
 * included), at every batch and event boundary, and every sensor must follow it (malformed batch events counted
 * and skipped, a sensor on an empty Redis adopting the new data set without a resync, the API's own echo).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareEntry, type IntelEntryInput, type PreparedEntry } from '../../src/intel/entry.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import type { RedisConnectionOptions } from '../../src/intel/redis/connection.js';
import { RedisIntelStore, type RedisIntelStoreOptions } from '../../src/intel/redis/intel-store.js';
import { RedisIntelSync, type RedisIntelSyncOptions } from '../../src/intel/redis/intel-sync.js';
import { decodeStored, encodeContent, encodeRecord } from '../../src/intel/redis/record-codec.js';
import { parseStreamId } from '../../src/intel/redis/schema.js';
import { WriteEcho } from '../../src/intel/redis/write-echo.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { contentOf, memoryLog, uniqueName, waitUntil } from './helpers.js';

const meta = { actor: 'tester' };
const NOW = Math.floor(Date.now() / 1000);
let server: RedisServer;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startRedisServer();
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await server?.destroy();
});

function connection(prefix: string): RedisConnectionOptions {
  return { url: server.url, keyPrefix: prefix, commandTimeoutMs: 2000, connectTimeoutMs: 2000 };
}

function store(prefix: string, options: RedisIntelStoreOptions = {}): RedisIntelStore {
  const s = RedisIntelStore.connect(connection(prefix), { clock: () => NOW, ...options });
  closers.push(() => s.close());
  return s;
}

function sensor(prefix: string, extra: Partial<RedisIntelSyncOptions> = {}): RedisIntelSync {
  const sync = new RedisIntelSync({ redis: connection(prefix), set: new IntelSet(), log: memoryLog(), ...extra });
  closers.push(() => sync.close());
  return sync;
}

/** What Redis holds, as a freshly started sensor sees it. */
async function reference(prefix: string): Promise<IntelSet> {
  const r = new RedisIntelSync({ redis: connection(prefix), set: new IntelSet() });
  await r.start();
  await r.close();
  return r.set;
}

const ip = (n: number): string => `198.18.${(n >> 8) & 255}.${n & 255}`;
const prep = (input: IntelEntryInput): PreparedEntry => prepareEntry(input, { nowSeconds: NOW });

/** Everything Redis holds for the set, timestamps left out: records (content and version), expiry index, indexes. */
async function snapshotOf(s: RedisIntelStore): Promise<Record<string, unknown>> {
  const records: string[] = [];
  for (const key of s.keys.shards) {
    const all = await s.client.hgetall(key);
    for (const [field, value] of Object.entries(all)) {
      const e = decodeStored(field, value);
      records.push(`${field} | ${value.split('\t').slice(0, 7).join('|')} | by ${e.actor}`);
    }
  }
  const expiry = await s.client.zrange(s.keys.expiry, 0, -1, 'WITHSCORES');
  return {
    records: records.sort(),
    expiry,
    xind: await s.client.hgetall(s.keys.xind),
    sources: (await s.client.smembers(s.keys.sources)).sort(),
    version: await s.version(),
  };
}

/** Every change in the stream in order: [version, op, record or identity]. */
async function changesOf(s: RedisIntelStore): Promise<[number, string, string][]> {
  const out: [number, string, string][] = [];
  for (const [id, f] of await s.client.xrange(s.keys.stream, '-', '+')) {
    const fields: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) fields[f[i]!] = f[i + 1]!;
    const last = parseStreamId(id)!.version;
    if (fields.o === 'b') {
      const lines = fields.c!.split('\n');
      expect(lines.length).toBe(Number(fields.n));
      lines.forEach((line, i) => out.push([last - lines.length + 1 + i, line.slice(0, 1), line.slice(2)]));
    } else {
      out.push([last, fields.o!, fields.o === 'u' ? fields.r! : fields.k!]);
    }
  }
  return out;
}

/** A mixed sequence with duplicates: the same identity created, changed, repeated unchanged, moved, expiring. */
function mixedInputs(): IntelEntryInput[] {
  return [
    { indicator: ip(1), reason: 'a' },
    { indicator: ip(2), source: 'feed', expires: NOW + 3600 },
    { indicator: ip(1), reason: 'b', expires: NOW + 60 }, // update in the same call: now expiring
    { indicator: ip(1), reason: 'b', expires: NOW + 60 }, // the same content again: unchanged
    { indicator: ip(2), source: 'feed' }, // expiring -> never: leaves the expiry index
    { indicator: ip(3), source: 'soc', id: 'T-1', action: 'monitor' }, // explicit id: indicator index
    { indicator: ip(4), source: 'soc', id: 'T-1', action: 'monitor' }, // the explicit id moves to another indicator
    { indicator: ip(5), tags: ['x', 'y'], expires: NOW + 10 },
    { indicator: ip(5), tags: ['y'] }, // never again
    { indicator: ip(5), tags: ['y'], expires: NOW + 20 }, // expiring again: the last one counts
    { indicator: ip(6), action: 'allow' },
  ];
}

describe('bulk writes (BULK_UPSERT_LUA)', () => {
  test('duplicates inside one call behave exactly as the same upserts one by one', async () => {
    const bulk = store(uniqueName('b'), { batchSize: 1000 });
    const single = store(uniqueName('s'));
    const inputs = mixedInputs();
    // Written before: the bulk then updates existing records too (created time kept, old index entries removed).
    for (const s of [bulk, single]) await s.upsert({ indicator: ip(6), reason: 'old', expires: NOW + 999 }, meta);
    const before = (await bulk.get('manual', ip(6)))!;
    const sequential = [];
    for (const input of inputs) sequential.push(await single.upsert(input, meta));
    const written = await bulk.writePrepared(inputs.map(prep), meta);
    expect([...written.statuses]).toEqual(sequential.map((r) => (r.created ? 1 : r.changed ? 2 : 0)));
    // The call's changes take the same versions; it hands them out in the order it sends the entries (grouped by
    // record hash), so across identities the order may differ, never within one.
    const changedVersions = (vs: readonly number[], statuses: readonly number[]) => vs.filter((_, i) => statuses[i] !== 0).sort((x, y) => x - y);
    expect(changedVersions(written.versions, [...written.statuses])).toEqual(changedVersions(sequential.map((r) => r.version), sequential.map((r) => (r.changed ? 1 : 0))));
    const byIdentity = (vs: readonly number[]) => {
      const m = new Map<string, number[]>();
      inputs.forEach((input, i) => {
        const key = `${input.source ?? 'manual'}/${input.id ?? input.indicator}`;
        m.set(key, [...(m.get(key) ?? []), vs[i]!]);
      });
      return m;
    };
    for (const vs of byIdentity(written.versions).values()) expect(vs).toEqual([...vs].sort((x, y) => x - y));
    expect(written.version).toBe(Math.max(...sequential.map((r) => r.version)));
    expect(await snapshotOf(bulk)).toEqual(await snapshotOf(single));
    // The same changes reach the stream, each identity's in the same order (one batch event, not one event each).
    const perIdentity = (c: [number, string, string][]) => {
      const m = new Map<string, string[]>();
      for (const [, op, r] of c) {
        const f = r.split('\t');
        const key = op === 'u' ? `${f[0]}/${f[1] || f[2]}` : r;
        m.set(key, [...(m.get(key) ?? []), op === 'u' ? f.slice(0, 7).join('|') : 'removed']);
      }
      return [...m.entries()].sort();
    };
    const [a, b] = [await changesOf(bulk), await changesOf(single)];
    expect(a.map((c) => c[0])).toEqual(b.map((c) => c[0])); // consecutive versions, no gap
    expect(perIdentity(a)).toEqual(perIdentity(b));
    const after = (await bulk.get('manual', ip(6)))!;
    expect(after).toMatchObject({ createdAt: before.createdAt, action: 'allow', expiresAt: null });
    // Writing each identity's last state again changes nothing: no version step, no event.
    const last = new Map(inputs.map((input) => [`${input.source ?? 'manual'}/${input.id ?? input.indicator}`, input]));
    const again = await bulk.writePrepared([...last.values()].map(prep), meta);
    expect([...again.statuses].every((s) => s === 0)).toBe(true);
    expect(await bulk.version()).toBe(written.version);
  });

  test.each([1, 7, 8, 9, 16, 17])('%i entries with 8 per call and 3 changes per event: consecutive versions, every change in the stream', async (n) => {
    const s = store(uniqueName('c'), { batchSize: 8, eventChanges: 3 });
    const results: { index: number; version: number }[] = [];
    const summary = await s.upsertMany(Array.from({ length: n }, (_, i) => ({ indicator: ip(100 + i) })), meta, (r) => {
      if (r.ok) results.push({ index: r.index, version: r.version });
    });
    expect(summary).toMatchObject({ total: n, created: n, version: n });
    expect(results.map((r) => r.version).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const changes = await changesOf(s);
    expect(changes.map((c) => c[0])).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const events = await s.client.xrange(s.keys.stream, '-', '+');
    // Calls of 8 split into events of at most 3 changes: 3+3+2 per full call.
    expect(events.length).toBe(Math.floor(n / 8) * 3 + Math.ceil((n % 8) / 3));
    expect((await s.status()).entries).toBe(n);
  });

  test('many sources, explicit ids and mixed expiries in one call: every index kept as single writes keep it', async () => {
    const bulk = store(uniqueName('x'));
    const single = store(uniqueName('y'));
    const inputs: IntelEntryInput[] = Array.from({ length: 400 }, (_, i) => ({
      indicator: ip(i % 150),
      source: `src-${i % 40}`,
      ...(i % 7 === 0 ? { id: `case-${i % 21}` } : {}),
      ...(i % 3 === 0 ? { expires: NOW + 100 + (i % 5) } : {}),
      reason: `r${i % 4}`,
    }));
    for (const input of inputs) await single.upsert(input, meta);
    await bulk.upsertMany(inputs, meta);
    expect(await snapshotOf(bulk)).toEqual(await snapshotOf(single));
    expect((await bulk.status()).sources).toHaveLength(40);
    expect((await bulk.findByIndicator(ip(7))).length).toBe((await single.findByIndicator(ip(7))).length);
  });

  test('the stream is trimmed by changes kept, whole batch events at a time', async () => {
    const s = store(uniqueName('t'), { streamMaxLength: 1000, batchSize: 200, eventChanges: 100 });
    await s.upsertMany(Array.from({ length: 3000 }, (_, i) => ({ indicator: ip(i) })), meta);
    const status = await s.status();
    expect(status.oldestStreamVersion! % 100).toBe(1); // an event boundary
    expect(status.oldestStreamVersion).toBeGreaterThan(1000);
    expect(status.oldestStreamVersion).toBeLessThanOrEqual(2001);
    expect((await changesOf(s)).at(-1)![0]).toBe(3000);
  });
});

describe('sensors following bulk writes', () => {
  test('a sensor sees every entry of a bulk import, and single writes around it: same digest as Redis', async () => {
    const prefix = uniqueName('f');
    const s = store(prefix, { batchSize: 300, eventChanges: 128 });
    await s.upsert({ indicator: ip(9000) }, meta);
    const follower = sensor(prefix);
    await follower.start();
    const inputs: IntelEntryInput[] = [];
    for (let i = 0; i < 5000; i++) inputs.push({ indicator: ip(i % 4000), source: `f${i % 3}`, reason: `r${i % 7}`, tags: i % 5 ? ['t'] : [], expires: i % 4 ? NOW + 86400 + (i % 9) : undefined });
    inputs.push(...mixedInputs());
    const write = s.upsertMany(inputs, meta);
    await s.upsert({ indicator: ip(9001) }, meta); // interleaved single events
    await write;
    await s.remove('manual', ip(9000), meta);
    const version = await s.version();
    expect(await follower.waitForVersion(version, 30_000)).toBe(true);
    const ref = await reference(prefix);
    expect(follower.set.digest()).toBe(ref.digest());
    expect(contentOf(follower.set)).toEqual(contentOf(ref));
    expect(follower.set.size).toBe((await s.status()).entries);
    expect(follower.status()).toMatchObject({ resyncs: 0, skippedMalformed: 0 });
    // A sensor starting now catches up through the same batch events (snapshot + catch-up).
    const late = sensor(prefix);
    await late.start();
    expect(late.set.digest()).toBe(ref.digest());
  }, 60_000);

  test('a sensor that loaded an empty Redis follows the first import without a resync', async () => {
    const prefix = uniqueName('e');
    const follower = sensor(prefix);
    expect((await follower.start()).epoch).toBeNull();
    const s = store(prefix);
    const summary = await s.upsertMany(Array.from({ length: 2500 }, (_, i) => ({ indicator: ip(i) })), meta);
    expect(await follower.waitForVersion(summary.version, 20_000)).toBe(true);
    expect(follower.status()).toMatchObject({ resyncs: 0, entries: 2500, epoch: (await s.status()).epoch });
  }, 30_000);

  test('malformed batch events are counted and skipped; entries they name are dropped, nothing else is', async () => {
    const prefix = uniqueName('m');
    const s = store(prefix);
    await s.upsertMany(Array.from({ length: 20 }, (_, i) => ({ indicator: ip(i) })), meta);
    const follower = sensor(prefix);
    await follower.start();
    const epoch = (await s.status()).epoch!;
    const good = (n: number, reason: string) => `u\t${encodeRecord(prep({ indicator: ip(n), reason }), { createdMs: 1, updatedMs: 1, actor: 'x', version: 1 })}`;
    /** Appends an event of `n` changes by hand (the version moves on as a writer's would). */
    const append = async (n: number, ...fields: string[]) => {
      const v = Number(await s.client.hincrby(s.keys.meta, 'version', n));
      await s.client.xadd(s.keys.stream, `${epoch}-${v}`, 't', String(Date.now()), ...fields);
      return v;
    };
    await append(3, 'o', 'b', 'n', '3', 'c', [good(100, 'ok'), `u\tmanual\t\t${ip(5)}\tobliterate\t0\t\t\t1\t1\tx\t1`, 'x\tnot a change'].join('\n'));
    await append(2, 'o', 'b', 'n', '2', 'c', good(101, 'short')); // claims 2, holds 1
    await append(1, 'o', 'b', 'n', 'many', 'c', good(102, 'unreadable count'));
    await append(1, 'o', 'b', 'n', '1', 'c', `r\tmanual\t${ip(7)}`);
    const after = await s.upsert({ indicator: ip(200) }, meta);
    expect(await follower.waitForVersion(after.version, 20_000)).toBe(true);
    const st = follower.status();
    expect(st.skippedMalformed).toBe(4); // the bad record, the line that is no change, the short event, the unreadable count
    expect(st.state).toBe('live');
    expect(st.resyncs).toBe(0);
    const has = (n: number) => follower.set.find('manual', ip(n)) >= 0;
    expect(has(100)).toBe(true);
    expect(has(5)).toBe(false); // its record was malformed: dropped, as a snapshot would
    expect(has(101)).toBe(true);
    expect(has(102)).toBe(false); // inside the unreadable event
    expect(has(7)).toBe(false); // removed by a batch line
    expect(has(200)).toBe(true);
  }, 30_000);

  test('the writer\'s echo: the sync applies what its own store wrote, and ignores an echo that does not match', async () => {
    const prefix = uniqueName('w');
    const echo = new WriteEcho();
    const follower = sensor(prefix, { echo });
    await follower.start();
    const s = store(prefix, { echo, batchSize: 500 });
    const summary = await s.upsertMany(Array.from({ length: 2000 }, (_, i) => ({ indicator: ip(i), reason: `r${i % 3}` })), meta);
    expect(await follower.waitForVersion(summary.version, 20_000)).toBe(true);
    await waitUntil(() => echo.size === 0, 'the echo is consumed');
    expect(follower.set.digest()).toBe((await reference(prefix)).digest());
    // A stale echo (another entry under the same version, as after a failover) must not be applied.
    const wrong = prep({ indicator: ip(1), reason: 'never written' });
    const v = (await s.version()) + 1;
    echo.offer((await s.status()).epoch!, v, [wrong], [encodeContent(wrong)]);
    const real = await s.upsert({ indicator: ip(1), reason: 'written' }, meta);
    expect(real.version).toBe(v);
    expect(await follower.waitForVersion(v, 20_000)).toBe(true);
    expect(follower.set.reasonOf(follower.set.find('manual', ip(1)))).toBe('written');
  }, 30_000);
});

describe('WriteEcho', () => {
  test('matches only the exact content at the version offered, and forgets what was applied', () => {
    const echo = new WriteEcho();
    const a = prep({ indicator: ip(1), reason: 'a' });
    const b = prep({ indicator: ip(2), reason: 'b' });
    echo.offer('5', 10, [a, b], [encodeContent(a), encodeContent(b)]);
    const record = (e: PreparedEntry) => encodeRecord(e, { createdMs: 1, updatedMs: 2, actor: 'x', version: 11 });
    const text = `u\t${record(a)}\nu\t${record(b)}`;
    const second = text.indexOf('\n') + 3;
    expect(echo.match('5', 11, text, second, text.length)).toBe(b);
    expect(echo.match('5', 10, text, second, text.length)).toBeUndefined(); // b's record at a's version
    expect(echo.match('6', 11, text, second, text.length)).toBeUndefined(); // another epoch
    expect(echo.match('5', 12, text, second, text.length)).toBeUndefined();
    echo.consumed(10);
    expect(echo.size).toBe(1);
    echo.consumed(11);
    expect(echo.size).toBe(0);
  });
});
