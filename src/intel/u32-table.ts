/**
 * Open-addressed hash table from a 32-bit key to a non-zero 32-bit value, on one typed array.
 *
 * Layout: Uint32Array of [key, value] pairs, so a hit costs one cache line. Value 0 marks an empty slot (callers
 * pack an action code >= 1 into every value, so 0 never occurs), which leaves every key, 0 included, usable.
 * Linear probing; the home slot is hash * capacity / 2^32, so the capacity needs not be a power of two and can grow
 * by 1.25x, which keeps memory per entry tight (load factor between 0.64 and 0.8).
 * Deletion is backward-shift (no tombstones): the table stays exactly as if the key had never been inserted, so
 * lookups never degrade however many removes stream in.
 * Growth rehashes this one table (amortised O(1) per insert); lookups between changes are never blocked by
 * anything else.
 */
import { hashWord } from './hash.js';

export const MAX_LOAD = 0.8;
const GROWTH = 1.25;
const MIN_CAPACITY = 16;
const TWO_POW_32 = 4294967296;

export class U32Table {
  private slots: Uint32Array;
  private capacity: number;
  private scale: number;
  private growAt: number;
  size = 0;

  constructor(expected = 0) {
    this.capacity = capacityFor(expected);
    this.slots = new Uint32Array(this.capacity * 2);
    this.scale = this.capacity / TWO_POW_32;
    this.growAt = Math.floor(this.capacity * MAX_LOAD);
  }

  /** Value stored for `key` (an unsigned 32-bit number), or 0. */
  get(key: number): number {
    const s = this.slots;
    const cap = this.capacity;
    let i = Math.floor(hashWord(key) * this.scale);
    for (;;) {
      const v = s[2 * i + 1]!;
      if (v === 0) return 0;
      if (s[2 * i] === key) return v;
      if (++i === cap) i = 0;
    }
  }

  /** Inserts or overwrites. `value` must be non-zero; `key` unsigned. */
  set(key: number, value: number): void {
    if (this.size >= this.growAt) this.resize(Math.ceil(this.capacity * GROWTH));
    const s = this.slots;
    const cap = this.capacity;
    let i = Math.floor(hashWord(key) * this.scale);
    for (;;) {
      const v = s[2 * i + 1]!;
      if (v === 0) {
        s[2 * i] = key;
        s[2 * i + 1] = value;
        this.size++;
        return;
      }
      if (s[2 * i] === key) {
        s[2 * i + 1] = value;
        return;
      }
      if (++i === cap) i = 0;
    }
  }

  /** Removes `key`; returns whether it was present. Backward-shift deletion keeps probe chains intact. */
  delete(key: number): boolean {
    const s = this.slots;
    const cap = this.capacity;
    let i = Math.floor(hashWord(key) * this.scale);
    for (;;) {
      const v = s[2 * i + 1]!;
      if (v === 0) return false;
      if (s[2 * i] === key) break;
      if (++i === cap) i = 0;
    }
    let hole = i;
    let j = i;
    for (;;) {
      if (++j === cap) j = 0;
      const v = s[2 * j + 1]!;
      if (v === 0) break;
      const k = s[2 * j]!;
      const home = Math.floor(hashWord(k) * this.scale);
      // The entry at j may fill the hole if the hole lies on its probe path, i.e. between home and j (cyclically).
      if ((hole - home + cap) % cap < (j - home + cap) % cap) {
        s[2 * hole] = k;
        s[2 * hole + 1] = v;
        hole = j;
      }
    }
    s[2 * hole] = 0;
    s[2 * hole + 1] = 0;
    this.size--;
    return true;
  }

  /** Makes room for `count` entries in total without further growth (at load RESERVE_LOAD once they are in). */
  reserve(count: number): void {
    const wanted = capacityFor(count, RESERVE_LOAD);
    if (wanted > this.capacity) this.resize(wanted);
  }

  /** Calls `fn` for every (key, value). Do not change the table from `fn`. */
  forEach(fn: (key: number, value: number) => void): void {
    const s = this.slots;
    for (let i = 0; i < this.capacity; i++) if (s[2 * i + 1] !== 0) fn(s[2 * i]!, s[2 * i + 1]!);
  }

  get byteLength(): number {
    return this.slots.byteLength;
  }

  private resize(capacity: number): void {
    const old = this.slots;
    const oldCap = this.capacity;
    this.capacity = capacity;
    this.slots = new Uint32Array(capacity * 2);
    this.scale = capacity / TWO_POW_32;
    this.growAt = Math.floor(capacity * MAX_LOAD);
    const s = this.slots;
    for (let j = 0; j < oldCap; j++) {
      const v = old[2 * j + 1]!;
      if (v === 0) continue;
      const k = old[2 * j]!;
      let i = Math.floor(hashWord(k) * this.scale);
      while (s[2 * i + 1] !== 0) if (++i === capacity) i = 0;
      s[2 * i] = k;
      s[2 * i + 1] = v;
    }
  }
}

/** Load factor a reserved table reaches when the reserved count is in: shorter probes than at MAX_LOAD. */
export const RESERVE_LOAD = 0.7;

/** Smallest capacity that holds `count` entries at load factor `load` (at most MAX_LOAD). */
export function capacityFor(count: number, load = MAX_LOAD): number {
  return Math.max(MIN_CAPACITY, Math.ceil(count / Math.min(load, MAX_LOAD)) + 1);
}
