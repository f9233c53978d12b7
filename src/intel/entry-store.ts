/**
 * Column store of the entries of one kind (ipv4, cidr4, ip-port v4, ...). An entry is an index into typed-array
 * columns; lookup tables hold only that index (packed with the action), never objects.
 *
 * Columns per entry: key words (keyWidth x 4 bytes), flags (1 byte), expiry (4 bytes, epoch seconds, 0 = never),
 * profile (2 bytes, widened to 4 past 65,536 distinct profiles), prefix length (1 byte, CIDR stores only) and a
 * string slot (domain store only). An IPv4 exact entry therefore costs 11 bytes here plus its table slot.
 *
 * Expiry index: a binary min-heap of entry indices ordered by the expiry column (4 bytes per expiring entry).
 * An entry's expiry never changes while it is in the heap (an update is a remove plus an add), and a removed entry
 * that is still in the heap keeps its index reserved ("lingering") until the heap pops it or compactHeap() drops it,
 * so the heap never needs a position index.
 */
import { IntelCapacityError } from './errors.js';

/** Entries per store are limited so that index << 3 (packed table value) stays a positive small integer. */
export const MAX_ENTRIES_PER_KIND = 1 << 27;

export const FLAG_ACTION_MASK = 0x03;
export const FLAG_EXPLICIT_ID = 0x04;
export const FLAG_IN_HEAP = 0x08;

const GROWTH = 1.25;
const MIN_GROW = 64;

export class EntryStore {
  readonly kindId: number;
  readonly keyWidth: number;
  capacity = 0;
  /** High-water mark: indices below it have been handed out at least once. */
  top = 0;
  live = 0;
  /** Removed entries whose index waits in the expiry heap. */
  lingering = 0;
  flags = new Uint8Array(0);
  expiry = new Uint32Array(0);
  profile: Uint16Array | Uint32Array = new Uint16Array(0);
  keys = new Uint32Array(0);
  prefix: Uint8Array | null;
  readonly strings: (string | undefined)[] | null;
  private freeList = new Uint32Array(0);
  private freeCount = 0;
  heap = new Uint32Array(0);
  heapSize = 0;

  constructor(kindId: number, keyWidth: number, options: { prefix?: boolean; strings?: boolean } = {}) {
    this.kindId = kindId;
    this.keyWidth = keyWidth;
    this.prefix = options.prefix ? new Uint8Array(0) : null;
    this.strings = options.strings ? [] : null;
  }

  /** Index for a new entry (flags still 0: the caller fills every column). */
  alloc(): number {
    if (this.freeCount > 0) {
      this.live++;
      return this.freeList[--this.freeCount]!;
    }
    if (this.top === this.capacity) this.grow(Math.max(this.capacity + MIN_GROW, Math.ceil(this.capacity * GROWTH)));
    this.live++;
    return this.top++;
  }

  /** Frees an entry's index (or parks it until the expiry heap lets go of it). */
  release(index: number): void {
    const inHeap = (this.flags[index]! & FLAG_IN_HEAP) !== 0;
    this.flags[index] = inHeap ? FLAG_IN_HEAP : 0;
    if (this.strings) this.strings[index] = undefined;
    this.live--;
    if (inHeap) this.lingering++;
    else this.pushFree(index);
  }

  setProfile(index: number, profile: number): void {
    if (profile > 0xffff && this.profile instanceof Uint16Array) {
      // Past 65,536 distinct (source, reason, tags) triples the column widens once; reads are unaffected.
      const wide = new Uint32Array(this.capacity);
      wide.set(this.profile);
      this.profile = wide;
    }
    this.profile[index] = profile;
  }

  /** Makes room for `count` entries in total. */
  reserve(count: number): void {
    if (count > MAX_ENTRIES_PER_KIND) throw capacityError();
    if (count > this.capacity) this.grow(count);
  }

  // ---- expiry heap (min-heap on expiry[index]) ----

  heapPush(index: number): void {
    if (this.heapSize === this.heap.length) {
      const bigger = new Uint32Array(Math.max(MIN_GROW, Math.ceil(this.heap.length * GROWTH)));
      bigger.set(this.heap);
      this.heap = bigger;
    }
    this.flags[index]! |= FLAG_IN_HEAP;
    this.siftUp(this.heapSize++, index);
  }

  /** Index with the earliest expiry, or -1. */
  heapPeek(): number {
    return this.heapSize > 0 ? this.heap[0]! : -1;
  }

  /** Removes the heap top; returns it. Clears its in-heap flag and frees it if it was lingering. */
  heapPop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.heapSize]!;
    if (this.heapSize > 0) this.siftDown(0, last);
    this.flags[top]! &= ~FLAG_IN_HEAP;
    if ((this.flags[top]! & FLAG_ACTION_MASK) === 0) {
      this.lingering--;
      this.pushFree(top);
    }
    return top;
  }

  /** Whether lingering indices are worth a compaction (more than half of the heap, and not trivially few). */
  heapNeedsCompaction(): boolean {
    return this.lingering > 4096 && this.lingering * 2 > this.heapSize;
  }

  /** Drops lingering (removed) indices from the heap and rebuilds it in place: O(heap size), no lookup impact. */
  compactHeap(): void {
    const h = this.heap;
    let n = 0;
    for (let i = 0; i < this.heapSize; i++) {
      const index = h[i]!;
      if ((this.flags[index]! & FLAG_ACTION_MASK) !== 0) {
        h[n++] = index;
      } else {
        this.flags[index] = 0;
        this.lingering--;
        this.pushFree(index);
      }
    }
    this.heapSize = n;
    for (let i = (n >>> 1) - 1; i >= 0; i--) this.siftDown(i, h[i]!);
  }

  get byteLength(): number {
    return this.flags.byteLength + this.expiry.byteLength + this.profile.byteLength + this.keys.byteLength +
      (this.prefix ? this.prefix.byteLength : 0) + this.freeList.byteLength + this.heap.byteLength;
  }

  private siftUp(pos: number, index: number): void {
    const h = this.heap;
    const e = this.expiry;
    const key = e[index]!;
    while (pos > 0) {
      const parent = (pos - 1) >>> 1;
      const p = h[parent]!;
      if (e[p]! <= key) break;
      h[pos] = p;
      pos = parent;
    }
    h[pos] = index;
  }

  private siftDown(pos: number, index: number): void {
    const h = this.heap;
    const e = this.expiry;
    const n = this.heapSize;
    const key = e[index]!;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && e[h[child + 1]!]! < e[h[child]!]!) child++;
      if (e[h[child]!]! >= key) break;
      h[pos] = h[child]!;
      pos = child;
    }
    h[pos] = index;
  }

  private pushFree(index: number): void {
    if (this.freeCount === this.freeList.length) {
      const bigger = new Uint32Array(Math.max(MIN_GROW, Math.ceil(this.freeList.length * GROWTH)));
      bigger.set(this.freeList);
      this.freeList = bigger;
    }
    this.freeList[this.freeCount++] = index;
  }

  private grow(capacity: number): void {
    if (this.capacity >= MAX_ENTRIES_PER_KIND) throw capacityError();
    capacity = Math.min(capacity, MAX_ENTRIES_PER_KIND);
    this.flags = growArray(this.flags, new Uint8Array(capacity));
    this.expiry = growArray(this.expiry, new Uint32Array(capacity));
    this.profile = this.profile instanceof Uint16Array
      ? growArray(this.profile, new Uint16Array(capacity))
      : growArray(this.profile, new Uint32Array(capacity));
    this.keys = growArray(this.keys, new Uint32Array(capacity * this.keyWidth));
    if (this.prefix) this.prefix = growArray(this.prefix, new Uint8Array(capacity));
    this.capacity = capacity;
  }
}

function growArray<T extends Uint8Array | Uint16Array | Uint32Array>(old: T, bigger: T): T {
  bigger.set(old);
  return bigger;
}

function capacityError(): IntelCapacityError {
  return new IntelCapacityError(`more than ${MAX_ENTRIES_PER_KIND} entries of one indicator kind`, 'aggregate addresses into CIDRs or split the intel across sensors');
}
