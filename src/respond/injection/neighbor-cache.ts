/**
 * Which MAC address leads to an IP address, as learned from mirrored frames: the source MAC of a frame from an
 * address is that host's (or its router's) MAC, the destination MAC of a frame to it is the next hop towards it.
 * Needed to reach a session's endpoints without a trigger frame to copy addresses from (an idle session killed
 * after an intel change). Learned when a session is created, so it costs one store per new session.
 *
 * Direct-mapped and bounded: a colliding address simply replaces the older one (a cache, not a table of record).
 * Addresses use the engine's four-word form (IPv4 mapped as 0, 0, 0xffff, addr).
 */
export class NeighborCache {
  private readonly keys: Uint32Array;
  private readonly macs: Uint8Array;
  private readonly used: Uint8Array;
  private readonly mask: number;
  learned = 0;

  constructor(capacity = 65536) {
    let size = 1;
    while (size < capacity) size <<= 1;
    this.mask = size - 1;
    this.keys = new Uint32Array(size * 4);
    this.macs = new Uint8Array(size * 6);
    this.used = new Uint8Array(size);
  }

  private slot(w0: number, w1: number, w2: number, w3: number): number {
    let h = Math.imul(w3 ^ Math.imul(w2 ^ Math.imul(w1 ^ w0, 0x2c1b3c6d), 0x297a2d39), 0x9e3779b1);
    h ^= h >>> 16;
    return h & this.mask;
  }

  /** Remembers that `mac` (6 bytes at `offset` of `data`) leads to the address. */
  learn(w0: number, w1: number, w2: number, w3: number, data: Uint8Array, offset: number): void {
    const i = this.slot(w0, w1, w2, w3);
    const k = i * 4;
    this.keys[k] = w0;
    this.keys[k + 1] = w1;
    this.keys[k + 2] = w2;
    this.keys[k + 3] = w3;
    const m = i * 6;
    for (let j = 0; j < 6; j++) this.macs[m + j] = data[offset + j]!;
    if (this.used[i] === 0) this.used[i] = 1;
    this.learned++;
  }

  /** Copies the MAC for the address into `out` at `outOffset`; false when unknown. */
  lookup(w0: number, w1: number, w2: number, w3: number, out: Uint8Array, outOffset: number): boolean {
    const i = this.slot(w0, w1, w2, w3);
    const k = i * 4;
    if (this.used[i] === 0 || this.keys[k] !== w0 >>> 0 || this.keys[k + 1] !== w1 >>> 0 || this.keys[k + 2] !== w2 >>> 0 || this.keys[k + 3] !== w3 >>> 0) {
      return false;
    }
    const m = i * 6;
    for (let j = 0; j < 6; j++) out[outOffset + j] = this.macs[m + j]!;
    return true;
  }
}
