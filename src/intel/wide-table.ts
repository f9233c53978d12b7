/**
 * Open-addressed hash table from a fixed-width multi-word key (2, 4 or 5 unsigned 32-bit words) to a non-zero
 * 32-bit value: IPv6 addresses and prefixes (4 words), IPv4 + port (2 words), IPv6 + port (5 words).
 *
 * Same design as U32Table: one Uint32Array of [key words..., value] records, value 0 = empty slot, linear probing,
 * home slot = hash * capacity / 2^32, growth by 1.25x at load 0.8, backward-shift deletion.
 * Keys are passed in a caller-owned Uint32Array (reused across calls), so lookups allocate nothing.
 */
import { hashWord, mixWord } from './hash.js';
import { capacityFor, MAX_LOAD, RESERVE_LOAD } from './u32-table.js';

const GROWTH = 1.25;
const TWO_POW_32 = 4294967296;

export class WideTable {
  readonly width: number;
  private readonly stride: number;
  private slots: Uint32Array;
  private capacity: number;
  private scale: number;
  private growAt: number;
  size = 0;

  constructor(width: number, expected = 0) {
    if (width < 1 || width > 8) throw new RangeError(`key width ${width} is not 1..8`);
    this.width = width;
    this.stride = width + 1;
    this.capacity = capacityFor(expected);
    this.slots = new Uint32Array(this.capacity * this.stride);
    this.scale = this.capacity / TWO_POW_32;
    this.growAt = Math.floor(this.capacity * MAX_LOAD);
  }

  /** Value for the key in key[0..width), or 0. */
  get(key: Uint32Array): number {
    const i = this.find(key);
    return i < 0 ? 0 : this.slots[i * this.stride + this.width]!;
  }

  /** Inserts or overwrites; `value` must be non-zero. */
  set(key: Uint32Array, value: number): void {
    const found = this.find(key);
    if (found >= 0) {
      this.slots[found * this.stride + this.width] = value;
      return;
    }
    if (this.size >= this.growAt) this.resize(Math.ceil(this.capacity * GROWTH));
    const s = this.slots;
    const w = this.width;
    const stride = this.stride;
    let i = this.home(key, 0);
    while (s[i * stride + w] !== 0) if (++i === this.capacity) i = 0;
    const base = i * stride;
    for (let k = 0; k < w; k++) s[base + k] = key[k]!;
    s[base + w] = value;
    this.size++;
  }

  delete(key: Uint32Array): boolean {
    const found = this.find(key);
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
      const home = this.home(s, j * stride);
      if ((hole - home + cap) % cap < (j - home + cap) % cap) {
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
    if (wanted > this.capacity) this.resize(wanted);
  }

  forEach(fn: (slots: Uint32Array, offset: number, value: number) => void): void {
    const s = this.slots;
    for (let i = 0; i < this.capacity; i++) {
      const v = s[i * this.stride + this.width]!;
      if (v !== 0) fn(s, i * this.stride, v);
    }
  }

  get byteLength(): number {
    return this.slots.byteLength;
  }

  /** Slot index holding the key, or -1. */
  private find(key: Uint32Array): number {
    const s = this.slots;
    const w = this.width;
    const stride = this.stride;
    const cap = this.capacity;
    let i = this.home(key, 0);
    for (;;) {
      const base = i * stride;
      if (s[base + w] === 0) return -1;
      let k = 0;
      while (k < w && s[base + k] === key[k]) k++;
      if (k === w) return i;
      if (++i === cap) i = 0;
    }
  }

  private home(words: Uint32Array, offset: number): number {
    let h = 0x2545f491;
    for (let k = 0; k < this.width; k++) h = mixWord(h, words[offset + k]!);
    return Math.floor(hashWord(h) * this.scale);
  }

  private resize(capacity: number): void {
    const old = this.slots;
    const oldCap = this.capacity;
    const stride = this.stride;
    const w = this.width;
    this.capacity = capacity;
    this.slots = new Uint32Array(capacity * stride);
    this.scale = capacity / TWO_POW_32;
    this.growAt = Math.floor(capacity * MAX_LOAD);
    const s = this.slots;
    for (let j = 0; j < oldCap; j++) {
      if (old[j * stride + w] === 0) continue;
      let i = this.home(old, j * stride);
      while (s[i * stride + w] !== 0) if (++i === capacity) i = 0;
      for (let k = 0; k < stride; k++) s[i * stride + k] = old[j * stride + k]!;
    }
  }
}
