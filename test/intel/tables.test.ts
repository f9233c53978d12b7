import { describe, expect, it } from 'vitest';
import { U32Table } from '../../src/intel/u32-table.js';
import { WideTable } from '../../src/intel/wide-table.js';
import { LookupIndex } from '../../src/intel/lookup-index.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { K_V4 } from '../../src/intel/kinds.js';
import { prng, randInt, randU32 } from './helpers.js';

describe('U32Table (open addressing, backward-shift deletion)', () => {
  it('agrees with a Map under random inserts, overwrites and deletes, through growth', () => {
    const rand = prng(1);
    const table = new U32Table();
    const model = new Map<number, number>();
    // A small key universe forces collisions, long probe runs and deletes in the middle of clusters.
    const universe = Array.from({ length: 3000 }, () => randU32(rand));
    universe.push(0, 0xffffffff);
    let checkedWhileGrowing = 0;
    for (let step = 0; step < 60000; step++) {
      const key = universe[randInt(rand, universe.length)]!;
      const r = rand();
      if (r < 0.55) {
        const value = 1 + randInt(rand, 1000);
        table.set(key, value);
        model.set(key, value);
      } else {
        expect(table.delete(key)).toBe(model.delete(key));
      }
      if (step % 997 === 0 || table.growing) {
        if (table.growing) checkedWhileGrowing++;
        expect(table.size).toBe(model.size);
        const wrong = universe.filter((k) => table.get(k) !== (model.get(k) ?? 0));
        expect(wrong).toEqual([]);
      }
    }
    // Incremental growth must have been caught half-way (lookups probing both arrays) and checked there.
    expect(checkedWhileGrowing).toBeGreaterThan(10);
    let seen = 0;
    table.forEach((k, v) => {
      expect(model.get(k)).toBe(v);
      seen++;
    });
    expect(seen).toBe(model.size);
  });

  it('grows without a full rehash: one change moves a bounded number of slots', () => {
    const table = new U32Table();
    for (let i = 0; i < 200000; i++) table.set(i * 2654435761 >>> 0, i + 1);
    let growthsSeen = 0;
    let wasGrowing = false;
    for (let i = 200000; i < 400000; i++) {
      table.set(i * 2654435761 >>> 0, i + 1);
      if (table.growing && !wasGrowing) growthsSeen++;
      wasGrowing = table.growing;
    }
    expect(growthsSeen).toBeGreaterThan(0);
    let wrong = 0;
    for (let i = 0; i < 400000; i += 3) if (table.get(i * 2654435761 >>> 0) !== i + 1) wrong++;
    expect(wrong).toBe(0);
    expect(table.size).toBe(400000);
    let seen = 0;
    table.forEach(() => seen++);
    expect(seen).toBe(400000);
  });

  it('keeps every key reachable after deleting all but a few (no tombstone decay)', () => {
    const table = new U32Table();
    for (let i = 0; i < 10000; i++) table.set(i * 7919, i + 1);
    for (let i = 0; i < 10000; i++) if (i % 100 !== 0) table.delete(i * 7919);
    expect(table.size).toBe(100);
    let wrong = 0;
    for (let i = 0; i < 10000; i++) if (table.get(i * 7919) !== (i % 100 === 0 ? i + 1 : 0)) wrong++;
    expect(wrong).toBe(0);
  });
});

describe('U32Table miss filter', () => {
  it('holds exactly the bits of the live keys under churn (deletes clear bits no other key uses)', () => {
    const rand = prng(7);
    const table = new U32Table();
    const live = new Set<number>();
    for (let step = 0; step < 200000; step++) {
      const key = randU32(rand) & 0x3ffff; // small universe: many keys share a home slot, and so a filter bit
      if (rand() < 0.5) {
        table.set(key, 1);
        live.add(key);
      } else if (table.delete(key)) live.delete(key);
    }
    while (table.advance(1 << 20));
    // The same bits as a table holding only the live keys, built fresh (it reaches the same capacity here).
    const fresh = new U32Table();
    for (const k of live) fresh.set(k, 1);
    while (fresh.advance(1 << 20));
    expect(fresh.byteLength).toBe(table.byteLength);
    expect(table.filterBitsSet).toBe(fresh.filterBitsSet);
    for (const k of live) table.delete(k);
    expect(table.size).toBe(0);
    expect(table.filterBitsSet).toBe(0);
  });
});

describe('WideTable', () => {
  for (const width of [2, 4, 5]) {
    it(`width ${width} agrees with a Map under random changes`, () => {
      const rand = prng(100 + width);
      const table = new WideTable(width);
      const model = new Map<string, number>();
      const universe = Array.from({ length: 2000 }, () => Uint32Array.from({ length: width }, () => (rand() < 0.3 ? 0 : randU32(rand))));
      const name = (k: Uint32Array) => k.join(',');
      let checkedWhileGrowing = 0;
      for (let step = 0; step < 40000; step++) {
        const key = universe[randInt(rand, universe.length)]!;
        if (rand() < 0.55) {
          const value = 1 + randInt(rand, 1000);
          table.set(key, value);
          model.set(name(key), value);
        } else {
          expect(table.delete(key)).toBe(model.delete(name(key)));
        }
        if (step % 1999 === 0 || table.growing) {
          if (table.growing) checkedWhileGrowing++;
          expect(table.size).toBe(model.size);
          expect(universe.filter((k) => table.get(k) !== (model.get(name(k)) ?? 0))).toEqual([]);
        }
      }
      expect(checkedWhileGrowing).toBeGreaterThan(10);
    });
  }
});

describe('LookupIndex /16 summary of IPv4 exact keys', () => {
  it('marks exactly the /16s that hold a live key, under churn', () => {
    const rand = prng(7);
    const index = new LookupIndex();
    const model = new Set<number>();
    // Keys in eight /16s, few per /16, so /16s empty out and refill many times.
    const universe = Array.from({ length: 64 }, (_, i) => ((0xc6120000 + ((i & 7) << 16) + randInt(rand, 65536)) >>> 0));
    for (let step = 0; step < 20000; step++) {
      const key = universe[randInt(rand, universe.length)]!;
      index.key[0] = key;
      if (rand() < 0.5) {
        index.set(K_V4, 8 | 2);
        model.add(key);
      } else {
        index.delete(K_V4);
        model.delete(key);
      }
      if (step % 101 === 0) {
        for (let i = 0; i < 8; i++) {
          const slot = (0xc612 + i) >>> 0;
          const expected = [...model].some((k) => k >>> 16 === slot) ? 1 : 0;
          expect(index.exact16[slot], `/16 ${slot.toString(16)} at step ${step}`).toBe(expected);
        }
      }
    }
  });

  it('an IntelSet answers through it: a key removed and re-added in an emptied /16 matches again', () => {
    const set = new IntelSet();
    const a = 0xc6120305; // 198.18.3.5
    set.upsert({ indicator: '198.18.3.5', source: 'one' });
    set.upsert({ indicator: '198.18.3.5', source: 'two' });
    set.remove('one', '198.18.3.5');
    expect(set.matchV4(a)).toBeGreaterThanOrEqual(0); // the other source's entry keeps the /16 marked
    set.remove('two', '198.18.3.5');
    expect(set.matchV4(a)).toBe(-1);
    set.upsert({ indicator: '198.18.200.1', source: 'one' });
    expect(set.matchV4(0xc612c801)).toBeGreaterThanOrEqual(0);
    set.upsert({ indicator: '10.0.0.0/8', source: 'one' }); // a CIDR takes matchV4's general path
    expect(set.matchV4(0xc612c801)).toBeGreaterThanOrEqual(0);
    expect(set.matchV4(a)).toBe(-1);
  });
});
