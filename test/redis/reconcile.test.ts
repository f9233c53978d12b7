/**
 * reconcile(): the in-scope part of the set becomes exactly the given entries, in one call, touching only what
 * differs. Checked against a simple model (a Map of identity -> content) over random scenarios.
 */
import { describe, expect, test } from 'vitest';
import { prepareEntry, type PreparedEntry } from '../../src/intel/entry.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { forEachLiveHandle, forEachLiveHandleFrom, planReconcile, reconcile } from '../../src/intel/reconcile.js';
import { prng, randInt } from '../intel/helpers.js';
import { contentOf } from './helpers.js';

const NOW = 1_800_000_000;
const clock = (): number => NOW;

function entry(input: Parameters<typeof prepareEntry>[0]): PreparedEntry {
  return prepareEntry(input, { nowSeconds: NOW });
}

describe('reconcile', () => {
  test('adds, updates, removes and leaves the rest untouched', () => {
    const set = new IntelSet({ clock });
    set.upsert({ indicator: '198.18.0.1', source: 'redis' });
    set.upsert({ indicator: '198.18.0.2', source: 'redis', reason: 'old' });
    set.upsert({ indicator: '198.18.0.3', source: 'redis' });
    set.upsert({ indicator: '198.18.0.9', source: 'file.txt' }); // out of scope: must survive
    const keep = set.find('redis', '198.18.0.1');
    const before = set.version;
    const result = reconcile(set, [
      entry({ indicator: '198.18.0.1', source: 'redis' }),
      entry({ indicator: '198.18.0.2', source: 'redis', reason: 'new' }),
      entry({ indicator: '198.18.0.4', source: 'redis', action: 'allow' }),
    ], (s) => s === 'redis');
    expect(result).toEqual({ added: 1, updated: 1, removed: 1, unchanged: 1 });
    expect(set.find('redis', '198.18.0.1')).toBe(keep); // unchanged entries keep their handle
    expect(set.reasonOf(set.find('redis', '198.18.0.2'))).toBe('new');
    expect(set.find('redis', '198.18.0.3')).toBe(-1);
    expect(set.find('file.txt', '198.18.0.9')).toBeGreaterThanOrEqual(0);
    expect(set.version).toBe(before + 3); // one step per real change: added, updated, removed
  });

  test('a second reconcile with the same entries changes nothing', () => {
    const set = new IntelSet({ clock });
    const entries = [entry({ indicator: '198.18.0.0/24', tags: ['a', 'b'] }), entry({ indicator: 'example.com', action: 'monitor', id: 'x-1' })];
    reconcile(set, entries, () => true);
    const version = set.version;
    expect(reconcile(set, entries, () => true)).toEqual({ added: 0, updated: 0, removed: 0, unchanged: 2 });
    expect(set.version).toBe(version);
  });

  test('an explicit id whose indicator changed is an update, and every field counts', () => {
    const set = new IntelSet({ clock });
    reconcile(set, [entry({ indicator: '198.18.0.1', id: 't-1', source: 's' })], () => true);
    expect(reconcile(set, [entry({ indicator: '198.18.0.2', id: 't-1', source: 's' })], () => true)).toMatchObject({ updated: 1 });
    expect(set.indicatorOf(set.find('s', 't-1'))).toBe('198.18.0.2');
    for (const change of [{ action: 'allow' }, { expires: NOW + 60 }, { reason: 'r' }, { tags: ['t'] }]) {
      expect(reconcile(set, [entry({ indicator: '198.18.0.2', id: 't-1', source: 's', ...change })], () => true)).toMatchObject({ updated: 1, unchanged: 0 });
    }
  });

  test('an empty list empties the scope only', () => {
    const set = new IntelSet({ clock });
    for (let i = 0; i < 100; i++) set.upsert({ indicator: `198.18.1.${i}`, source: i % 2 ? 'a' : 'b' });
    expect(reconcile(set, [], (s) => s === 'a').removed).toBe(50);
    expect(set.size).toBe(50);
  });

  test('duplicates in the list: the last one wins', () => {
    const set = new IntelSet({ clock });
    reconcile(set, [entry({ indicator: '198.18.0.1', reason: 'first' }), entry({ indicator: '198.18.0.1', reason: 'last' })], () => true);
    expect(set.size).toBe(1);
    expect(set.reasonOf(set.find('manual', '198.18.0.1'))).toBe('last');
  });

  test('random scenarios agree with a model, digest included', () => {
    const rand = prng(42);
    const pool = Array.from({ length: 400 }, (_, i) => {
      const kinds = [`198.18.${i >> 8}.${i & 255}`, `198.19.${i & 255}.0/24`, `[2001:2::${i.toString(16)}]:443/tcp`, `h${i}.example.com`];
      return kinds[i % 4]!;
    });
    const sources = ['redis-a', 'redis-b', 'file'];
    const randomEntry = (): PreparedEntry => entry({
      indicator: pool[randInt(rand, pool.length)]!,
      source: sources[randInt(rand, 3)],
      action: (['block', 'monitor', 'allow'] as const)[randInt(rand, 3)],
      reason: randInt(rand, 3) === 0 ? `r${randInt(rand, 3)}` : '',
      tags: randInt(rand, 4) === 0 ? ['x'] : [],
      id: randInt(rand, 5) === 0 ? `id-${randInt(rand, 20)}` : undefined,
      expires: randInt(rand, 4) === 0 ? NOW + 100 + randInt(rand, 3) : undefined,
    });
    const inScope = (s: string): boolean => s !== 'file';
    for (let round = 0; round < 30; round++) {
      const set = new IntelSet({ clock });
      for (let i = 0; i < 300; i++) set.upsertPrepared(randomEntry());
      const target = Array.from({ length: 250 }, randomEntry);
      // Model: out-of-scope entries stay, then the target list applied in order.
      const expected = new IntelSet({ clock });
      for (const e of set.entries()) if (!inScope(e.source)) expected.upsert({ ...e, expires: e.expiresAt, id: e.id === e.indicator ? null : e.id });
      for (const e of target) expected.upsertPrepared(e);
      const r = reconcile(set, target, inScope);
      expect(contentOf(set)).toEqual(contentOf(expected));
      expect(set.digest()).toBe(expected.digest());
      expect(r.added + r.updated + r.unchanged).toBeGreaterThan(0);
    }
  });
});

describe('planReconcile', () => {
  function scenario(seed: number): { set: IntelSet; twin: IntelSet; target: PreparedEntry[] } {
    const rand = prng(seed);
    const make = (): PreparedEntry => entry({
      indicator: `198.18.${randInt(rand, 4)}.${randInt(rand, 256)}`,
      source: ['a', 'b', 'keep'][randInt(rand, 3)],
      action: (['block', 'monitor', 'allow'] as const)[randInt(rand, 3)],
      reason: `r${randInt(rand, 2)}`,
      id: randInt(rand, 6) === 0 ? `id-${randInt(rand, 30)}` : undefined,
    });
    const set = new IntelSet({ clock });
    const twin = new IntelSet({ clock });
    for (let i = 0; i < 800; i++) {
      const e = make();
      set.upsertPrepared(e);
      twin.upsertPrepared(e);
    }
    // Unique identities (as a staging set gives): then the counts agree with reconcile() too.
    const target = new Map<string, PreparedEntry>();
    for (let i = 0; i < 700; i++) {
      const e = make();
      target.set(`${e.source}|${e.explicitId ?? e.indicator.text}`, e);
    }
    return { set, twin, target: [...target.values()] };
  }

  test('applied in one step, it gives exactly what reconcile() gives, in slices that let others run', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const { set, twin, target } = scenario(seed);
      const inScope = (s: string): boolean => s !== 'keep';
      let pauses = 0;
      const plan = await planReconcile(set, target, inScope, { slice: 64, pause: async () => void pauses++ });
      expect(pauses).toBeGreaterThan(5);
      const before = contentOf(set);
      expect(contentOf(set)).toEqual(before); // planning changed nothing
      const planned = plan.apply();
      const direct = reconcile(twin, target, inScope);
      expect(planned).toEqual(direct);
      expect(contentOf(set)).toEqual(contentOf(twin));
      expect(set.digest()).toBe(twin.digest());
      expect(plan.upserts).toBe(direct.added + direct.updated);
      expect(plan.removals).toBe(direct.removed);
    }
  });

  test('with duplicates in the list the last one wins, as with reconcile()', async () => {
    const set = new IntelSet({ clock });
    const twin = new IntelSet({ clock });
    for (const s of [set, twin]) s.upsert({ indicator: '198.18.0.1', reason: 'same' });
    const list = [entry({ indicator: '198.18.0.1', reason: 'other' }), entry({ indicator: '198.18.0.1', reason: 'same' }), entry({ indicator: '198.18.0.2' }), entry({ indicator: '198.18.0.2', action: 'allow' })];
    (await planReconcile(set, list, () => true)).apply();
    reconcile(twin, list, () => true);
    expect(contentOf(set)).toEqual(contentOf(twin));
    expect(set.reasonOf(set.find('manual', '198.18.0.1'))).toBe('same');
  });

  test('a set changed after planning is refused; the plan changes nothing then', async () => {
    const { set, target } = scenario(99);
    const plan = await planReconcile(set, target, () => true);
    set.upsert({ indicator: '198.19.0.1' });
    const content = contentOf(set);
    expect(plan.apply()).toBeNull();
    expect(contentOf(set)).toEqual(content);
    // A change during planning is noticed at the next slice.
    const { set: other, target: t2 } = scenario(98);
    const changing = await planReconcile(other, t2, () => true, { slice: 50, pause: async () => void other.upsert({ indicator: '198.19.0.2' }) });
    expect(changing.apply()).toBeNull();
  });
});

describe('handle walks', () => {
  test('forEachLiveHandle sees every live entry once; the resumable walk agrees', () => {
    const set = new IntelSet({ clock });
    for (let i = 0; i < 5000; i++) set.upsert({ indicator: i % 3 ? `198.18.${i >> 8}.${i & 255}` : `[2001:2::${i.toString(16)}]:80` });
    for (let i = 0; i < 5000; i += 7) set.remove('manual', i % 3 ? `198.18.${i >> 8}.${i & 255}` : `[2001:2::${i.toString(16)}]:80`);
    const all: number[] = [];
    forEachLiveHandle(set, (h) => all.push(h));
    expect(all.length).toBe(set.size);
    expect(new Set(all).size).toBe(all.length);
    const sliced: number[] = [];
    let at: { kind: number; index: number } | null = { kind: 0, index: 0 };
    while (at !== null) at = forEachLiveHandleFrom(set, at, 333, (h) => sliced.push(h));
    expect(sliced).toEqual(all);
  });
});
