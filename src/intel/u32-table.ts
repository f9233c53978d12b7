/**
 * Open-addressed hash table from a 32-bit key to a non-zero 32-bit value, on one typed array.
 *
 * Layout: Int32Array of [key, value] pairs, so a hit costs one cache line. Value 0 marks an empty slot (callers
 * pack an action code >= 1 into every value, so 0 never occurs), which leaves every key, 0 included, usable.
 * Keys are stored as their 32 bits in signed form: V8 compares int32 with int32 in one machine instruction, while a
 * Uint32Array element above 2^31 is a double, and comparing it made lookups at 1 M keys half as fast (measured:
 * 9.8 M/s against 20.7 M/s for hits). Callers may pass a key signed or unsigned; forEach gives it back unsigned.
 * Linear probing; the home slot is hash * capacity / 2^32, so the capacity needs not be a power of two and can grow
 * by 1.25x, which keeps memory per entry tight (load factor between 0.64 and 0.8).
 * Deletion is backward-shift (no tombstones): the table stays exactly as if the key had never been inserted, so
 * lookups never degrade however many removes stream in.
 *
 * A miss filter sits in front of the slots: 4 bits per slot (half a byte). A key sets two bits of one 32-bit word:
 * bit = hash * 4 * capacity / 2^32, which also names its home slot (bit >>> 2), and the bit the hash's low five
 * bits name in that word (a blocked Bloom filter, k = 2, one memory read). Most lookups miss (most traffic is not in
 * the intel set) and a miss otherwise walks a probe chain in a cache line that is not in cache; the filter (0.7 MB
 * at 1 M keys, more than a 512 KiB L2 but well inside the few MB of last-level cache this VM gets) stays cached and
 * answers 91 % of misses at load 0.68 (measured; 85 % with one bit per key). A delete recomputes its word from the
 * keys homed in the word's eight slots, so the filter does not silt up under churn.
 *
 * Growth is incremental, never a stop-the-world rehash: at the load limit a 1.25x larger array is allocated and
 * every later change also moves MIGRATE_STEP slots of the old array into it. Until the old array is drained, a
 * lookup that misses in the new array also probes the old one, where moved slots are marked MOVED (so probe chains
 * stay intact). A 10-million-key table therefore never pauses lookups for a whole rehash.
 */
import { hashWord as sharedHashWord } from './hash.js';

/** The hash as this module's own constant, which TurboFan folds; an import is read and checked at every call. */
const hashWord = sharedHashWord;

export const MAX_LOAD = 0.8;
/** Load factor a reserved table reaches when the reserved count is in: shorter probes than at MAX_LOAD. */
export const RESERVE_LOAD = 0.7;
const GROWTH = 1.25;
const MIN_CAPACITY = 16;
const TWO_POW_32 = 4294967296;
const FILTER_BITS_PER_SLOT = 4;
/**
 * A hash's filter bit is floor(hash * capacity * FILTER_SCALE), below 4 * capacity. FILTER_SCALE is a power of two,
 * so the result is the bit of hash * (capacity / 2^32 * 4) that the native screen computes (intelFilterScale). The
 * product is formed from the integer capacity field rather than from a stored double scale, which V8 reads through a
 * heap box: with that and the shifts in get()'s probe loop, get() did 7-10 % more hits per second (measured in one
 * process against the former code; test/bench/HISTORY.md, session 20).
 */
const FILTER_SCALE = FILTER_BITS_PER_SLOT / TWO_POW_32;
/** Old slots moved per change while growing: the new array (25% headroom) fills 5x slower than this drains. */
export const MIGRATE_STEP = 16;
/** Value of an old-array slot whose entry has moved to the new array (never a real value: those are in 1..2^30). */
export const MOVED = -1;

/** See U32Table.nativeView. */
export interface U32TableView {
  readonly slots: Int32Array;
  readonly filter: Int32Array;
  readonly capacity: number;
}

export class U32Table {
  private slots: Int32Array;
  private capacity: number;
  private scale: number;
  /** Miss filter over `slots`: FILTER_BITS_PER_SLOT bits per slot. */
  private filter: Int32Array;
  private growAt: number;
  /** The array being drained during growth, or null. */
  private old: Int32Array | null = null;
  private oldCapacity = 0;
  private oldScale = 0;
  private cursor = 0;
  /** Live keys, in both arrays. */
  size = 0;

  constructor(expected = 0) {
    this.capacity = capacityFor(expected) | 0; // an int field: V8 then reads it without checking for a boxed double
    this.slots = new Int32Array(this.capacity * 2);
    this.scale = this.capacity / TWO_POW_32;
    this.filter = new Int32Array(filterWords(this.capacity));
    this.growAt = Math.floor(this.capacity * MAX_LOAD);
  }

  /** Value stored for `key` (a 32-bit number, signed or unsigned), or 0. */
  get(key: number): number {
    key |= 0;
    const h = hashWord(key);
    const cap = this.capacity;
    const bit = Math.floor(h * cap * FILTER_SCALE);
    const mask = (1 << (bit & 31)) | (1 << (h & 31)); // filterBits() written out: a call checks the module binding
    if ((this.filter[bit >>> 5]! & mask) === mask) {
      const s = this.slots;
      let i = bit >>> 2; // = floor(hash * scale): both products are exact, FILTER_BITS_PER_SLOT is 4
      for (;;) {
        // Shifts, not 2 * i: V8 guards an int32 product against overflow, a shift needs no guard.
        const v = s[(i << 1) | 1]!;
        if (v === 0) break;
        if (s[i << 1] === key) return v;
        if (++i === cap) i = 0;
      }
    }
    // One call site for the growth case, given the hash: TurboFan counts what it inlined into this function
    // against the budget of every caller that would inline it, and a larger get() was left as a call inside
    // IntelSet.matchV4's callers (a third fewer hits per second at 1 M keys).
    return this.old === null ? 0 : this.getOld(key, h);
  }

  /** The filter bit of hash `h`; its slot is the bit / FILTER_BITS_PER_SLOT. get() writes it out (see there). */
  private filterBit(h: number): number {
    return Math.floor(h * this.capacity * FILTER_SCALE);
  }

  /**
   * Reads what a get() or set() of `key` reads first, the filter word and the home slot, and changes nothing. A
   * caller that touches a batch of keys before changing them has their cache misses overlap (IntelSet.prefetchAll).
   * Returns a number made of what it read, so that the reads cannot be dropped as unused.
   */
  touch(key: number): number {
    const bit = this.filterBit(hashWord(key | 0));
    return this.filter[bit >>> 5]! ^ this.slots[2 * (bit >>> 2) + 1]!;
  }

  /** Inserts or overwrites. `value` must be in 1..2^30; `key` signed or unsigned. */
  set(key: number, value: number): void {
    key |= 0;
    if (this.old === null && this.size >= this.growAt) this.startGrowth(Math.ceil(this.capacity * GROWTH));
    if (this.old !== null) {
      this.migrate(MIGRATE_STEP);
      if (this.old !== null && this.takeOld(key)) this.size--; // re-added to the new array below
    }
    const s = this.slots;
    const cap = this.capacity;
    const h = hashWord(key);
    const bit = this.filterBit(h);
    let i = bit >>> 2;
    for (;;) {
      const v = s[2 * i + 1]!;
      if (v === 0) {
        s[2 * i] = key;
        s[2 * i + 1] = value;
        this.filter[bit >>> 5]! |= filterBits(h, bit);
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

  /** Removes `key`; returns whether it was present. */
  delete(key: number): boolean {
    key |= 0;
    if (this.old !== null) {
      this.migrate(MIGRATE_STEP);
      if (this.old !== null && this.takeOld(key)) {
        this.size--;
        return true;
      }
    }
    if (!deleteFrom(this.slots, this.capacity, this.scale, key)) return false;
    this.refilterWord(this.filterBit(hashWord(key)) >>> 5);
    this.size--;
    return true;
  }

  /**
   * Rebuilds filter word `w` from the keys it covers, those homed in its eight slots: they lie in the probe chains
   * that start there, which end at the first empty slot at or past the last of those slots.
   */
  private refilterWord(w: number): void {
    const s = this.slots;
    const cap = this.capacity;
    const first = w * 8;
    const span = Math.min(first + 8, cap) - 1 - first;
    let word = 0;
    for (let i = first, t = 0; t < cap; t++, i = i + 1 === cap ? 0 : i + 1) {
      if (s[2 * i + 1] === 0) {
        if (t >= span) break;
        continue;
      }
      const h = hashWord(s[2 * i]!);
      const bit = this.filterBit(h);
      if (bit >>> 5 === w) word |= filterBits(h, bit);
    }
    this.filter[w] = word;
  }

  /** Makes room for `count` entries in total without further growth (at load RESERVE_LOAD once they are in). */
  reserve(count: number): void {
    const wanted = capacityFor(count, RESERVE_LOAD);
    if (wanted <= this.capacity) return;
    // An explicit reservation (bulk load) may rehash at once: it is asked for, and done before the bulk arrives.
    this.migrate(Infinity);
    this.startGrowth(wanted);
    this.migrate(Infinity);
  }

  /** Calls `fn` for every (key, value). Do not change the table from `fn`. */
  forEach(fn: (key: number, value: number) => void): void {
    for (const [s, cap] of [[this.slots, this.capacity], [this.old, this.oldCapacity]] as const) {
      if (s === null) continue;
      for (let i = 0; i < cap; i++) {
        const v = s[2 * i + 1]!;
        if (v !== 0 && v !== MOVED) fn(s[2 * i]! >>> 0, v);
      }
    }
  }

  /** Moves up to `count` more old slots (background work between changes); returns whether growth goes on. */
  advance(count: number): boolean {
    this.migrate(count);
    return this.old !== null;
  }

  /** Miss-filter bits set (for tests and metrics): a filter that only fills would slowly stop answering misses. */
  get filterBitsSet(): number {
    let n = 0;
    const f = this.filter;
    for (let w = 0; w < f.length; w++) {
      let x = f[w]!;
      x -= (x >>> 1) & 0x55555555;
      x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
      n += Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
    }
    return n;
  }

  /** Whether an incremental growth is under way. */
  get growing(): boolean {
    return this.old !== null;
  }

  /**
   * The current array, its miss filter and capacity, for a reader outside TypeScript (the session tracker's intel
   * screen, native-bindings/src/intel_rules.h), which probes them as get() does. While `growing`, keys also live in
   * the old array, which this view leaves out: such a reader must not conclude a key is absent.
   */
  get nativeView(): U32TableView {
    return { slots: this.slots, filter: this.filter, capacity: this.capacity };
  }

  get byteLength(): number {
    return this.slots.byteLength + this.filter.byteLength + (this.old ? this.old.byteLength : 0);
  }

  private startGrowth(capacity: number): void {
    this.old = this.slots;
    this.oldCapacity = this.capacity;
    this.oldScale = this.scale;
    this.cursor = 0;
    this.capacity = capacity | 0;
    this.slots = new Int32Array(capacity * 2);
    this.scale = capacity / TWO_POW_32;
    this.filter = new Int32Array(filterWords(capacity));
    this.growAt = Math.floor(capacity * MAX_LOAD);
  }

  /** Moves up to `count` old slots into the new array; drops the old array when drained. */
  private migrate(count: number): void {
    const old = this.old;
    if (old === null) return;
    const end = Math.min(this.oldCapacity, this.cursor + count);
    const s = this.slots;
    const cap = this.capacity;
    for (let j = this.cursor; j < end; j++) {
      const v = old[2 * j + 1]!;
      if (v === 0 || v === MOVED) continue;
      const k = old[2 * j]!;
      const h = hashWord(k);
      const bit = this.filterBit(h);
      let i = bit >>> 2;
      while (s[2 * i + 1] !== 0) if (++i === cap) i = 0;
      s[2 * i] = k;
      s[2 * i + 1] = v;
      this.filter[bit >>> 5]! |= filterBits(h, bit);
      old[2 * j + 1] = MOVED;
    }
    this.cursor = end;
    if (end === this.oldCapacity) this.old = null;
  }

  /** Probes the old array (moved slots are skipped, not chain ends). */
  private getOld(key: number, hash: number): number {
    const i = this.findOld(key, hash);
    return i < 0 ? 0 : this.old![2 * i + 1]!;
  }

  /** If `key` still lives in the old array, marks it moved and returns true (the caller fixes `size`). */
  private takeOld(key: number): boolean {
    const i = this.findOld(key, hashWord(key));
    if (i < 0) return false;
    this.old![2 * i + 1] = MOVED;
    return true;
  }

  private findOld(key: number, hash: number): number {
    const s = this.old!;
    const cap = this.oldCapacity;
    let i = Math.floor(hash * this.oldScale);
    for (;;) {
      const v = s[2 * i + 1]!;
      if (v === 0) return -1;
      if (v !== MOVED && s[2 * i] === key) return i;
      if (++i === cap) i = 0;
    }
  }
}

/** Backward-shift deletion from a [key, value] array; returns whether the key was there. */
function deleteFrom(s: Int32Array, cap: number, scale: number, key: number): boolean {
  let i = Math.floor(hashWord(key) * scale);
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
    const home = Math.floor(hashWord(k) * scale);
    // The entry at j may fill the hole if the hole lies on its probe path, i.e. between home and j (cyclically).
    if ((hole - home + cap) % cap < (j - home + cap) % cap) {
      s[2 * hole] = k;
      s[2 * hole + 1] = v;
      hole = j;
    }
  }
  s[2 * hole] = 0;
  s[2 * hole + 1] = 0;
  return true;
}

/** A key's two bits in its filter word: the home-slot bit, and the one the hash's low five bits name. */
function filterBits(hash: number, bit: number): number {
  return (1 << (bit & 31)) | (1 << (hash & 31));
}

function filterWords(capacity: number): number {
  return Math.ceil((capacity * FILTER_BITS_PER_SLOT) / 32);
}

/** Smallest capacity that holds `count` entries at load factor `load` (at most MAX_LOAD). */
export function capacityFor(count: number, load = MAX_LOAD): number {
  return Math.max(MIN_CAPACITY, Math.ceil(count / Math.min(load, MAX_LOAD)) + 1);
}
