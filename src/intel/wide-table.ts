/**
 * Open-addressed hash table from a fixed-width multi-word key (2 to 5 unsigned 32-bit words) to a non-zero 32-bit
 * value: IPv6 addresses and prefixes (4 words), IPv4 + port (2), IPv6 + port (5), profile triples (3).
 *
 * Same design as U32Table: one Int32Array (int32, for the reason given there) of [key words..., value] records,
 * value 0 = empty slot, linear probing, home slot = hash * capacity / 2^32, growth by 1.25x at load 0.8 done
 * incrementally (old slots drained MIGRATE_STEP per change, moved ones marked MOVED), backward-shift deletion.
 * Keys are passed in a caller-owned Int32Array (reused across calls), so lookups allocate nothing; a Uint32Array
 * key works too (compared by its 32 bits), only slower.
 */
import { hashWord, mixWord } from './hash.js';
import { capacityFor, MAX_LOAD, MIGRATE_STEP, MOVED, RESERVE_LOAD } from './u32-table.js';

const GROWTH = 1.25;
const TWO_POW_32 = 4294967296;

/** See WideTable.nativeView. */
export interface WideTableView {
  readonly slots: Int32Array;
  readonly capacity: number;
  readonly width: number;
}

export class WideTable {
  readonly width: number;
  private readonly stride: number;
  private slots: Int32Array;
  private capacity: number;
  private scale: number;
  private growAt: number;
  private old: Int32Array | null = null;
  private oldCapacity = 0;
  private oldScale = 0;
  private cursor = 0;
  /** Live keys, in both arrays. */
  size = 0;

  constructor(width: number, expected = 0) {
    if (width < 1 || width > 8) throw new RangeError(`key width ${width} is not 1..8`);
    this.width = width;
    this.stride = width + 1;
    this.capacity = capacityFor(expected);
    this.slots = new Int32Array(this.capacity * this.stride);
    this.scale = this.capacity / TWO_POW_32;
    this.growAt = Math.floor(this.capacity * MAX_LOAD);
  }

  /** Value for the key in key[0..width), or 0. */
  get(key: Int32Array | Uint32Array): number {
    const i = find(this.slots, this.capacity, this.scale, this.width, key, false);
    if (i >= 0) return this.slots[i * this.stride + this.width]!;
    if (this.old === null) return 0;
    const j = find(this.old, this.oldCapacity, this.oldScale, this.width, key, true);
    return j < 0 ? 0 : this.old[j * this.stride + this.width]!;
  }

  /** Reads the home slot's value word, what get() and set() read first, and changes nothing (see U32Table.touch). */
  touch(key: Int32Array | Uint32Array): number {
    return this.slots[home(key, 0, this.width, this.scale) * this.stride + this.width]!;
  }

  /** Inserts or overwrites; `value` must be non-zero (and not MOVED). */
  set(key: Int32Array | Uint32Array, value: number): void {
    if (this.old === null && this.size >= this.growAt) this.startGrowth(Math.ceil(this.capacity * GROWTH));
    if (this.old !== null) {
      this.migrate(MIGRATE_STEP);
      if (this.old !== null && this.takeOld(key)) this.size--; // re-added to the new array below
    }
    const found = find(this.slots, this.capacity, this.scale, this.width, key, false);
    if (found >= 0) {
      this.slots[found * this.stride + this.width] = value;
      return;
    }
    const s = this.slots;
    const w = this.width;
    const stride = this.stride;
    let i = home(key, 0, w, this.scale);
    while (s[i * stride + w] !== 0) if (++i === this.capacity) i = 0;
    const base = i * stride;
    for (let k = 0; k < w; k++) s[base + k] = key[k]!;
    s[base + w] = value;
    this.size++;
  }

  delete(key: Int32Array | Uint32Array): boolean {
    if (this.old !== null) {
      this.migrate(MIGRATE_STEP);
      if (this.old !== null && this.takeOld(key)) {
        this.size--;
        return true;
      }
    }
    const found = find(this.slots, this.capacity, this.scale, this.width, key, false);
    if (found < 0) return false;
    const s = this.slots;
    const w = this.width;
    const stride = this.stride;
    const cap = this.capacity;
    let hole = found;
    let j = found;
    for (;;) {
      if (++j === cap) j = 0;
      if (s[j * stride + w] === 0) break;
      const h = home(s, j * stride, w, this.scale);
      if ((hole - h + cap) % cap < (j - h + cap) % cap) {
        s.copyWithin(hole * stride, j * stride, j * stride + stride);
        hole = j;
      }
    }
    s.fill(0, hole * stride, hole * stride + stride);
    this.size--;
    return true;
  }

  reserve(count: number): void {
    const wanted = capacityFor(count, RESERVE_LOAD);
    if (wanted <= this.capacity) return;
    this.migrate(Infinity);
    this.startGrowth(wanted);
    this.migrate(Infinity);
  }

  forEach(fn: (slots: Int32Array, offset: number, value: number) => void): void {
    for (const [s, cap] of [[this.slots, this.capacity], [this.old, this.oldCapacity]] as const) {
      if (s === null) continue;
      for (let i = 0; i < cap; i++) {
        const v = s[i * this.stride + this.width]!;
        if (v !== 0 && v !== MOVED) fn(s, i * this.stride, v);
      }
    }
  }

  /** Moves up to `count` more old slots (background work between changes); returns whether growth goes on. */
  advance(count: number): boolean {
    this.migrate(count);
    return this.old !== null;
  }

  get growing(): boolean {
    return this.old !== null;
  }

  /** The current array and capacity, for a reader outside TypeScript (see U32Table.nativeView and its caveat). */
  get nativeView(): WideTableView {
    return { slots: this.slots, capacity: this.capacity, width: this.width };
  }

  get byteLength(): number {
    return this.slots.byteLength + (this.old ? this.old.byteLength : 0);
  }

  private startGrowth(capacity: number): void {
    this.old = this.slots;
    this.oldCapacity = this.capacity;
    this.oldScale = this.scale;
    this.cursor = 0;
    this.capacity = capacity;
    this.slots = new Int32Array(capacity * this.stride);
    this.scale = capacity / TWO_POW_32;
    this.growAt = Math.floor(capacity * MAX_LOAD);
  }

  private migrate(count: number): void {
    const old = this.old;
    if (old === null) return;
    const end = Math.min(this.oldCapacity, this.cursor + count);
    const s = this.slots;
    const stride = this.stride;
    const w = this.width;
    for (let j = this.cursor; j < end; j++) {
      const v = old[j * stride + w]!;
      if (v === 0 || v === MOVED) continue;
      let i = home(old, j * stride, w, this.scale);
      while (s[i * stride + w] !== 0) if (++i === this.capacity) i = 0;
      for (let k = 0; k < stride; k++) s[i * stride + k] = old[j * stride + k]!;
      old[j * stride + w] = MOVED;
    }
    this.cursor = end;
    if (end === this.oldCapacity) this.old = null;
  }

  private takeOld(key: Int32Array | Uint32Array): boolean {
    const j = find(this.old!, this.oldCapacity, this.oldScale, this.width, key, true);
    if (j < 0) return false;
    this.old![j * this.stride + this.width] = MOVED;
    return true;
  }
}

/** Slot index holding the key in `s`, or -1. `skipMoved`: the array is being drained (MOVED is not a chain end). */
function find(s: Int32Array, cap: number, scale: number, w: number, key: Int32Array | Uint32Array, skipMoved: boolean): number {
  const stride = w + 1;
  let i = home(key, 0, w, scale);
  for (;;) {
    const base = i * stride;
    const v = s[base + w]!;
    if (v === 0) return -1;
    if (!(skipMoved && v === MOVED)) {
      let k = 0;
      while (k < w && s[base + k] === (key[k]! | 0)) k++; // | 0: a caller's Uint32Array key compares too
      if (k === w) return i;
    }
    if (++i === cap) i = 0;
  }
}

function home(words: Int32Array | Uint32Array, offset: number, w: number, scale: number): number {
  let h = 0x2545f491;
  for (let k = 0; k < w; k++) h = mixWord(h, words[offset + k]!);
  return Math.floor(hashWord(h) * scale);
}
