/**
 * ProfileTable: (source, reason, tags) triples interned with reference counts, behind a cache by fingerprint.
 * The cache must never change an answer: same triple → same id, different triple → different id, whatever the
 * order, the collisions, the caller's reuse of its tag array, and ids released and handed out again.
 */
import { describe, expect, it } from 'vitest';
import { ProfileTable, profileSlot } from '../../src/intel/interner.js';

const triple = (i: number): [string, string, string[]] => [`feed-${i % 7}`, `reason ${i % 50}: known bad`, [`family-${i % 3}`, `tier-${i % 5}`]];

describe('ProfileTable', () => {
  it('interleaved triples keep their ids, and every id reads back its own strings', () => {
    const table = new ProfileTable();
    const ids = new Map<string, number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1050; i++) {
        const [source, reason, tags] = triple(i);
        const id = table.acquire(source, reason, tags);
        const key = `${source}|${reason}|${tags.join(',')}`;
        expect(ids.get(key) ?? id).toBe(id);
        ids.set(key, id);
        expect([table.source(id), table.reason(id), [...table.tags(id)]]).toEqual([source, reason, tags]);
      }
    }
    expect(table.size).toBe(ids.size);
    expect(new Set(ids.values()).size).toBe(ids.size);
  });

  it('a slot given by the caller, right, wrong or out of range, never changes the answer', () => {
    // Loads pass the slot their repeated line tails computed once (PreparedFields.profileSlot).
    const plain = new ProfileTable();
    const hinted = new ProfileTable();
    for (let i = 0; i < 3000; i++) {
      const [source, reason, tags] = triple(i);
      const right = profileSlot(source, reason, tags);
      const slot = [right, (right + 1) % 1024, -1, 1024, 1.5, NaN][i % 6]!;
      expect(hinted.acquire(source, reason, tags, slot)).toBe(plain.acquire(source, reason, tags));
    }
    expect(hinted.size).toBe(plain.size);
  });

  it('a caller that changes its tag array after acquiring gets the id of the new content', () => {
    const table = new ProfileTable();
    // The change is early in the tag, so the triple's fingerprint (lengths, last characters) stays the same.
    const tags = ['c2', 'gold-tier'];
    const a = table.acquire('feed', 'why', tags);
    tags[1] = 'blue-tier';
    const b = table.acquire('feed', 'why', tags);
    expect(b).not.toBe(a);
    expect([...table.tags(a)]).toEqual(['c2', 'gold-tier']);
    expect([...table.tags(b)]).toEqual(['c2', 'blue-tier']);
    expect(table.acquire('feed', 'why', ['c2', 'gold-tier'])).toBe(a);
  });

  it('an id released and reused for another triple is never answered for the old one', () => {
    const table = new ProfileTable();
    const old = table.acquire('feed-a', 'reason a', ['x']);
    table.release(old);
    expect(table.size).toBe(0);
    const reused = table.acquire('feed-b', 'reason b', ['y']);
    expect(reused).toBe(old); // ids of released profiles come back first
    const again = table.acquire('feed-a', 'reason a', ['x']);
    expect(again).not.toBe(reused);
    expect([table.source(again), table.reason(again), [...table.tags(again)]]).toEqual(['feed-a', 'reason a', ['x']]);
    expect([table.source(reused), table.reason(reused)]).toEqual(['feed-b', 'reason b']);
  });

  it('references: a profile lives until its last entry releases it', () => {
    const table = new ProfileTable();
    const id = table.acquire('s', 'r', []);
    expect(table.acquire('s', 'r', [])).toBe(id);
    table.release(id);
    expect(table.size).toBe(1);
    table.release(id);
    expect(table.size).toBe(0);
    expect(table.acquire('s', 'r', [])).toBe(id);
    expect(table.size).toBe(1);
  });
});
