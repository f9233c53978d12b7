/**
 * RedisIntelStore against a real redis-server: validation, atomic record + event writes, idempotency, versions,
 * batches, removal by identity and by indicator, listing with cursors and filters, expiry purge, errors.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IndicatorError, IntelEntryError } from '../../src/intel/errors.js';
import { RedisSchemaError, RedisUnavailableError } from '../../src/intel/redis/errors.js';
import { RedisIntelStore, type UpsertManyItem } from '../../src/intel/redis/intel-store.js';
import { decodeStored } from '../../src/intel/redis/record-codec.js';
import { intelKeys, parseStreamId, shardOf } from '../../src/intel/redis/schema.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { uniqueName } from './helpers.js';

let server: RedisServer;
const stores: RedisIntelStore[] = [];
const meta = { actor: 'tester' };

function newStore(options: ConstructorParameters<typeof RedisIntelStore>[1] = {}): RedisIntelStore {
  const store = RedisIntelStore.connect({ url: server.url, keyPrefix: uniqueName('t') }, options);
  stores.push(store);
  return store;
}

beforeAll(async () => {
  server = await startRedisServer();
}, 60_000);

afterAll(async () => {
  for (const s of stores) await s.close();
  await server?.destroy();
});

/** The versions of every change in the stream, in stream order (a batch event holds versions ID-n+1 .. ID). */
async function changeVersions(store: RedisIntelStore): Promise<number[]> {
  const out: number[] = [];
  for (const e of await events(store)) {
    const n = e.fields.o === 'b' ? Number(e.fields.n) : 1;
    for (let v = e.version - n + 1; v <= e.version; v++) out.push(v);
  }
  return out;
}

/** Every event of the stream, parsed. */
async function events(store: RedisIntelStore): Promise<{ id: string; version: number; fields: Record<string, string> }[]> {
  const raw = await store.client.xrange(store.keys.stream, '-', '+');
  return raw.map(([id, f]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) fields[f[i]!] = f[i + 1]!;
    return { id, version: parseStreamId(id)!.version, fields };
  });
}

describe('RedisIntelStore', () => {
  test('upsert writes the record and its event together; the same content again writes nothing', async () => {
    const store = newStore();
    const first = await store.upsert({ indicator: '198.18.0.5', reason: 'c2', tags: 'b;a' }, { actor: 'alice', address: '198.18.9.9' });
    expect(first).toMatchObject({ source: 'manual', id: '198.18.0.5', indicator: '198.18.0.5', created: true, changed: true, version: 1 });
    expect(first.entry).toMatchObject({ action: 'block', reason: 'c2', tags: ['a', 'b'], actor: 'alice', version: 1, expiresAt: null });
    const again = await store.upsert({ indicator: '198.18.0.5', reason: 'c2', tags: ['a', 'b'] }, { actor: 'bob' });
    expect(again).toMatchObject({ created: false, changed: false, version: 1 });
    const update = await store.upsert({ indicator: '198.18.0.5', reason: 'c2 (confirmed)' }, { actor: 'bob' });
    expect(update).toMatchObject({ created: false, changed: true, version: 2 });
    expect(update.entry.createdAt).toBe(first.entry.createdAt);
    expect(update.entry.actor).toBe('bob');
    expect(await store.version()).toBe(2);
    const ev = await events(store);
    expect(ev.map((e) => e.version)).toEqual([1, 2]);
    expect(ev[0]!.fields).toMatchObject({ o: 'u', k: 'manual\t198.18.0.5', by: 'alice', from: '198.18.9.9' });
    expect(Number(ev[0]!.fields.t)).toBe(first.entry.updatedAt);
    // The event carries exactly the record as stored.
    const stored = await store.client.hget(store.keys.shards[shardOf('manual\t198.18.0.5')]!, 'manual\t198.18.0.5');
    expect(ev[1]!.fields.r).toBe(stored);
  });

  test('bad input is refused with a typed error naming the field, and nothing is written', async () => {
    const store = newStore();
    await expect(store.upsert({ indicator: 'not an ip' }, meta)).rejects.toBeInstanceOf(IndicatorError);
    await expect(store.upsert({ indicator: '198.18.0.1', action: 'kill' }, meta)).rejects.toMatchObject({ field: 'action' });
    await expect(store.upsert({ indicator: '198.18.0.1', expires: '2001-01-01' }, meta)).rejects.toMatchObject({ field: 'expires' });
    await expect(store.upsert({ indicator: '198.18.0.1', tags: ['a\nb'] }, meta)).rejects.toMatchObject({ field: 'tags' });
    await expect(store.upsert({ indicator: '10.0.0.0/8' }, meta)).rejects.toMatchObject({ field: 'indicator', message: expect.stringMatching(/over-broad/) });
    await expect(store.upsert({ indicator: '198.18.0.1' }, { actor: '' })).rejects.toBeInstanceOf(IntelEntryError);
    await expect(store.upsert({ indicator: '198.18.0.1' }, { actor: 'a\tb' })).rejects.toMatchObject({ field: 'actor' });
    expect(await store.version()).toBe(0);
    // The explicit force.
    expect((await store.upsert({ indicator: '10.0.0.0/8' }, { ...meta, allowOverBroad: true })).created).toBe(true);
  });

  test('TTLs become absolute expiries indexed for purging; purge removes only what expired, with events', async () => {
    let now = 1_800_000_000;
    const store = newStore({ clock: () => now });
    await store.upsert({ indicator: '198.18.0.1', expires: '1h' }, meta);
    await store.upsert({ indicator: '198.18.0.2', expires: 7200 }, meta);
    await store.upsert({ indicator: '198.18.0.3' }, meta);
    expect((await store.get('manual', '198.18.0.1'))?.expiresAt).toBe(now + 3600);
    expect(await store.client.zcard(store.keys.expiry)).toBe(2);
    now += 3601;
    expect(await store.purgeExpired(meta)).toBe(1);
    expect(await store.get('manual', '198.18.0.1')).toBeNull();
    expect(await store.get('manual', '198.18.0.2')).not.toBeNull();
    // Renewed entries are not purged, and expiry removal is indexed again on update.
    await store.upsert({ indicator: '198.18.0.2' }, meta); // now never expires
    now += 10_000;
    expect(await store.purgeExpired(meta)).toBe(0);
    expect(await store.client.zcard(store.keys.expiry)).toBe(0);
    const ev = await events(store);
    expect(ev.at(-2)!.fields).toMatchObject({ o: 'r', k: 'manual\t198.18.0.1' });
  });

  test('remove, removeByIndicator and findByIndicator cover every source and explicit ids', async () => {
    const store = newStore();
    await store.upsert({ indicator: '198.18.0.7' }, meta);
    await store.upsert({ indicator: '198.18.0.7', source: 'feed-a', action: 'monitor' }, meta);
    await store.upsert({ indicator: '198.18.0.7', source: 'soc', id: 'TICKET-1', action: 'allow' }, meta);
    await store.upsert({ indicator: '198.18.0.8', source: 'soc', id: 'TICKET-2' }, meta);
    const found = await store.findByIndicator('198.18.0.7');
    expect(found.map((e) => `${e.source}/${e.id}`).sort()).toEqual(['feed-a/198.18.0.7', 'manual/198.18.0.7', 'soc/TICKET-1']);
    // An explicit id moved to another indicator leaves the old indicator's index.
    await store.upsert({ indicator: '198.18.0.9', source: 'soc', id: 'TICKET-1' }, meta);
    expect((await store.findByIndicator('198.18.0.7')).length).toBe(2);
    expect((await store.findByIndicator('198.18.0.9')).map((e) => e.id)).toEqual(['TICKET-1']);
    const one = await store.remove('feed-a', '198.18.0.7', meta);
    expect(one.removed?.action).toBe('monitor');
    expect((await store.remove('feed-a', '198.18.0.7', meta)).removed).toBeNull();
    const all = await store.removeByIndicator('198.18.0.9', meta);
    expect(all.removed.map((e) => e.id)).toEqual(['TICKET-1']);
    expect(await store.findByIndicator('198.18.0.9')).toEqual([]);
    expect(await store.client.hexists(store.keys.xind, '198.18.0.9')).toBe(0);
    await expect(store.findByIndicator('nope nope')).rejects.toBeInstanceOf(IndicatorError);
  });

  test('upsertMany: batches, per-item results by index, bad items reported, versions consecutive', async () => {
    const store = newStore({ batchSize: 7, concurrency: 3 });
    const inputs = Array.from({ length: 100 }, (_, i) => (i % 10 === 9 ? { indicator: `bad-${i}` } : { indicator: `198.18.1.${i}`, source: `feed-${i % 3}` }));
    inputs.push({ indicator: '198.18.1.0', source: 'feed-0' }); // same content again: unchanged
    const results: UpsertManyItem[] = [];
    async function* lazily() {
      for (const input of inputs) yield input;
    }
    const summary = await store.upsertMany(lazily(), meta, (r) => results.push(r));
    expect(summary).toMatchObject({ total: 101, created: 90, updated: 0, unchanged: 1, failed: 10, version: 90 });
    expect(results.length).toBe(101);
    const byIndex = new Map(results.map((r) => [r.index, r]));
    expect(byIndex.get(9)).toMatchObject({ ok: false, error: { code: 'intel_indicator' } });
    expect(byIndex.get(0)).toMatchObject({ ok: true, created: true, source: 'feed-0', indicator: '198.18.1.0' });
    expect(byIndex.get(100)).toMatchObject({ ok: true, created: false, changed: false });
    expect(await changeVersions(store)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    // Batch events: one per script call here (7 entries each, at most 500 changes per event).
    const ev = await events(store);
    expect(ev.every((e) => e.fields.o === 'b' && Number(e.fields.n) <= 7)).toBe(true);
  });

  test('list pages through everything exactly once with a cursor, and filters', async () => {
    const store = newStore();
    const n = 2500;
    await store.upsertMany(Array.from({ length: n }, (_, i) => ({
      indicator: `198.18.${i >> 8}.${i & 255}`,
      action: i % 5 === 0 ? 'allow' : 'block',
      source: i % 2 ? 'odd' : 'even',
      tags: i % 7 === 0 ? ['seven'] : [],
      expires: i % 3 === 0 ? 1_900_000_000 + i : undefined,
    })), meta);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await store.list({ cursor, limit: 333 });
      expect(page.entries.length).toBeLessThanOrEqual(333);
      for (const e of page.entries) seen.push(e.id);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(seen.length).toBe(n);
    expect(new Set(seen).size).toBe(n);
    expect(pages).toBeGreaterThan(2);
    const collect = async (q: Parameters<RedisIntelStore['list']>[0]): Promise<number> => {
      let total = 0;
      let c: string | null = null;
      do {
        const p = await store.list({ ...q, cursor: c, limit: 1000 });
        total += p.entries.length;
        c = p.nextCursor;
      } while (c !== null);
      return total;
    };
    expect(await collect({ action: 'allow' })).toBe(500);
    expect(await collect({ action: ['allow', 'monitor'] })).toBe(500);
    expect(await collect({ source: 'odd', tag: 'seven' })).toBe(Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 1 && i % 7 === 0).length);
    expect(await collect({ expiringBefore: 1_900_000_000 + 300 })).toBe(100); // i % 3 == 0 and i < 300
    expect(await collect({ kind: 'cidr4' })).toBe(0);
    await expect(store.list({ cursor: 'garbage' })).rejects.toMatchObject({ field: 'cursor' });
  }, 60_000);

  test('the stream stays bounded by changes kept (MINID ~ by version), batch events or single ones', async () => {
    const store = newStore({ streamMaxLength: 1000 });
    await store.upsertMany(Array.from({ length: 5000 }, (_, i) => ({ indicator: `198.18.${i >> 8}.${i & 255}` })), meta);
    let status = await store.status();
    expect(status.version).toBe(5000);
    expect(status.entries).toBe(5000);
    // About the last 1000 changes are kept (whole events: a batch event is kept or dropped as one).
    expect(status.oldestStreamVersion).toBeGreaterThan(3000);
    expect(status.oldestStreamVersion).toBeLessThanOrEqual(4001);
    const kept = await changeVersions(store);
    expect(kept.at(-1)).toBe(5000);
    expect(kept.length).toBeLessThan(2000);
    // Single writes trim by version as well.
    for (let i = 0; i < 1500; i++) await store.upsert({ indicator: `198.19.${i >> 8}.${i & 255}` }, meta);
    status = await store.status();
    expect(status.version).toBe(6500);
    expect(status.oldestStreamVersion).toBeGreaterThan(4500);
    expect((await changeVersions(store)).length).toBeLessThan(2000);
  }, 60_000);

  test('keys of another schema are refused, not overwritten', async () => {
    const store = newStore();
    await store.client.hset(store.keys.meta, 'schema', '99', 'shards', '256', 'epoch', '1', 'version', '5');
    await expect(store.upsert({ indicator: '198.18.0.1' }, meta)).rejects.toBeInstanceOf(RedisSchemaError);
    await expect(store.status()).rejects.toBeInstanceOf(RedisSchemaError);
    expect(await store.client.hget(store.keys.meta, 'version')).toBe('5');
  });

  test('a data set re-created after FLUSHALL gets a new, later epoch', async () => {
    const store = newStore();
    await store.upsert({ indicator: '198.18.0.1' }, meta);
    const before = (await store.status()).epoch!;
    await store.client.del(store.keys.meta); // the meta hash lost, the stream kept: the new epoch must still grow
    await store.upsert({ indicator: '198.18.0.2' }, meta);
    const after = (await store.status()).epoch!;
    expect(BigInt(after)).toBeGreaterThan(BigInt(before));
    const ev = await events(store);
    expect(ev.at(-1)!.id).toBe(`${after}-1`);
  });

  test('records written through the store decode as what was written', async () => {
    const store = newStore();
    await store.upsert({ indicator: '[2001:2::5]:8443/tcp', source: 'soc', id: 'x', reason: 'ünï "q"', tags: ['z', 'a'], action: 'monitor', expires: '2099-01-01' }, meta);
    const keys = intelKeys(store.keys.prefix);
    const value = await store.client.hget(keys.shards[shardOf('soc\tx')]!, 'soc\tx');
    expect(decodeStored('soc\tx', value!)).toMatchObject({ indicator: '[2001:2::5]:8443/tcp', kind: 'ip-port', reason: 'ünï "q"', tags: ['a', 'z'], action: 'monitor', expiresAt: 4070908800 });
  });

  test('Redis down: a clear RedisUnavailableError, quickly', async () => {
    const dead = await startRedisServer();
    await dead.destroy();
    const store = RedisIntelStore.connect({ url: dead.url, connectTimeoutMs: 1000 });
    stores.push(store);
    await expect(store.upsert({ indicator: '198.18.0.1' }, meta)).rejects.toThrow(RedisUnavailableError);
    await expect(store.version()).rejects.toThrow(/cannot connect to redis:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  }, 30_000);
});
