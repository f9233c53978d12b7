import { describe, expect, it } from 'vitest';
import { IdIndex } from '../../src/intel/id-index.js';
import { prng, randInt } from './helpers.js';

/** Runs random adds and deletes against a Map model; `hash` may be made to collide. */
function churn(hash?: (sourceId: number, id: string) => number): void {
  const rand = prng(4242);
  // What the entries hold, by handle: the index checks its answers against this, as IntelSet does.
  const held = new Map<number, { sourceId: number; id: string }>();
  const index = new IdIndex((handle, sourceId, id) => held.get(handle)?.sourceId === sourceId && held.get(handle)?.id === id, hash);
  const model = new Map<string, number>();
  let nextHandle = 1;
  for (let step = 0; step < 30_000; step++) {
    const sourceId = randInt(rand, 3);
    const id = `ioc-${randInt(rand, 2000)}`;
    const key = `${sourceId}/${id}`;
    const known = model.get(key);
    expect(index.get(sourceId, id)).toBe(known ?? -1);
    if (known !== undefined && rand() < 0.5) {
      index.delete(sourceId, id, known);
      held.delete(known);
      model.delete(key);
    } else if (known === undefined) {
      const handle = nextHandle++;
      held.set(handle, { sourceId, id });
      index.add(sourceId, id, handle);
      model.set(key, handle);
    }
    if (step % 64 === 0) index.maintain(256);
  }
  expect(index.size).toBe(model.size);
  for (const [key, handle] of model) {
    const [sourceId, id] = key.split('/') as [string, string];
    expect(index.get(Number(sourceId), id)).toBe(handle);
  }
}

describe('explicit id index', () => {
  it('agrees with a Map through adds and deletes, growing as it goes', () => churn());
  it('agrees with a Map when every pair has the same hash (all but one in the overflow)', () => churn(() => 7));
  it('agrees with a Map when hashes collide often', () => churn((sourceId, id) => (id.length * 31 + sourceId) & 15));
});
