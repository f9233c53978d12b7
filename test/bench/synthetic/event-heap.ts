/**
 * Binary min-heap of (time, flow slot): which active flow sends its next packet first. This is what interleaves
 * flows: packets leave in global time order, whatever flow they belong to. Typed arrays, no per-entry objects.
 * Ties keep no particular order, but the order is a pure function of the operations, so output stays deterministic.
 */
export class EventHeap {
  private times: Float64Array;
  private slots: Int32Array;
  size = 0;

  constructor(initialCapacity = 1 << 16) {
    this.times = new Float64Array(initialCapacity);
    this.slots = new Int32Array(initialCapacity);
  }

  peekTime(): number {
    return this.times[0]!;
  }

  peekSlot(): number {
    return this.slots[0]!;
  }

  push(time: number, slot: number): void {
    if (this.size === this.times.length) this.grow();
    let i = this.size++;
    const times = this.times;
    const slots = this.slots;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      slots[i] = slots[parent]!;
      i = parent;
    }
    times[i] = time;
    slots[i] = slot;
  }

  /** Removes the earliest entry. */
  pop(): void {
    const last = --this.size;
    if (last > 0) this.siftDown(this.times[last]!, this.slots[last]!);
  }

  /** Replaces the earliest entry by (time, slot): one sift instead of pop + push, the common case. */
  replaceTop(time: number, slot: number): void {
    this.siftDown(time, slot);
  }

  private siftDown(time: number, slot: number): void {
    const times = this.times;
    const slots = this.slots;
    const n = this.size;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && times[child + 1]! < times[child]!) child++;
      if (times[child]! >= time) break;
      times[i] = times[child]!;
      slots[i] = slots[child]!;
      i = child;
    }
    times[i] = time;
    slots[i] = slot;
  }

  private grow(): void {
    const times = new Float64Array(this.times.length * 2);
    times.set(this.times);
    const slots = new Int32Array(this.slots.length * 2);
    slots.set(this.slots);
    this.times = times;
    this.slots = slots;
  }
}
