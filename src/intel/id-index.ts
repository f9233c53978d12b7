/**
 * Entries with an explicit id, by (source, id): a U32Table from a 32-bit hash of the pair to the entry's handle,
 * each answer checked against the entry itself (its id and source, through `holds`), and a Map for the rare pairs
 * whose hash another live pair already has.
 *
 * Why not one Map of strings: for a new id (every line of a first load), a Map lookup missed the cache two or
 * three times, through its buckets, chains and key strings: 0.65 s of a 1 M-line load with ids. Here a new id is
 * usually answered by the table's miss filter, and a Map of a million strings (about 30 bytes an entry besides
 * the strings) becomes typed arrays of about 12. The table also grows in slices (IntelSet.maintain), never by one
 * rehash of everything.
 */
import { hashString, hashWord } from './hash.js';
import { U32Table } from './u32-table.js';

/** Whether entry `handle` has explicit id `id` and comes from source `sourceId`. */
export type IdHolder = (handle: number, sourceId: number, id: string) => boolean;

export class IdIndex {
  private readonly table = new U32Table();
  /** Pairs whose hash is the table's key for another live pair: `sourceId NUL id` -> handle. */
  private readonly overflow = new Map<string, number>();
  size = 0;

  constructor(
    private readonly holds: IdHolder,
    private readonly hash: (sourceId: number, id: string) => number = pairHash,
  ) {}

  /** The handle of the entry with this identity, or -1. */
  get(sourceId: number, id: string): number {
    const v = this.table.get(this.hash(sourceId, id));
    if (v !== 0 && this.holds(v - 1, sourceId, id)) return v - 1;
    if (this.overflow.size === 0) return -1;
    return this.overflow.get(overflowKey(sourceId, id)) ?? -1;
  }

  /** Reads the table lines a get() or add() of this identity will read (see U32Table.touch). */
  touch(sourceId: number, id: string): number {
    return this.table.touch(this.hash(sourceId, id));
  }

  /** Records a new identity (not already present). */
  add(sourceId: number, id: string, handle: number): void {
    const key = this.hash(sourceId, id);
    if (this.table.get(key) === 0) this.table.set(key, handle + 1);
    else this.overflow.set(overflowKey(sourceId, id), handle);
    this.size++;
  }

  /** Forgets an identity that `add` recorded for `handle`. */
  delete(sourceId: number, id: string, handle: number): void {
    const key = this.hash(sourceId, id);
    if (this.table.get(key) === handle + 1) this.table.delete(key);
    else this.overflow.delete(overflowKey(sourceId, id));
    this.size--;
  }

  /** Makes room for `count` identities in all, so that a bulk load does not grow the table step by step. */
  reserve(count: number): void {
    this.table.reserve(count);
  }

  /** Moves part of the table's growth along; returns whether it still grows (see U32Table.advance). */
  maintain(budget: number): boolean {
    return this.table.growing && this.table.advance(budget);
  }

  get byteLength(): number {
    return this.table.byteLength;
  }
}

function pairHash(sourceId: number, id: string): number {
  return hashWord(hashString(id) ^ Math.imul(sourceId + 1, 0x9e3779b1));
}

function overflowKey(sourceId: number, id: string): string {
  return `${sourceId}\u0000${id}`;
}
