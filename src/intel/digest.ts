/**
 * Order-independent content digest of a set of entries: the sum, modulo 2^32 in each of four lanes, of a 128-bit
 * hash of every live entry. Adding an entry adds its hash, removing it subtracts it, so the digest follows every
 * change in O(1) and two sensors holding the same entries (whatever order they received them in) print the same
 * digest. Entry hashes are computed from content only (key words, prefix, port, action, expiry, and the content
 * hashes of id, source, reason and tags), never from internal ids or handles.
 */
import { hashWord, mixWord } from './hash.js';

const LANE_SEEDS = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];

export class ContentDigest {
  private readonly lanes = new Uint32Array(4);
  /** Words of the entry being hashed (filled by the caller through `word`). */
  private readonly words = new Uint32Array(16);
  private count = 0;

  /** Starts hashing one entry. */
  begin(): void {
    this.count = 0;
  }

  word(value: number): void {
    this.words[this.count++] = value >>> 0;
  }

  /** Adds (sign 1) or subtracts (sign -1) the entry hashed since begin(). */
  commit(sign: 1 | -1): void {
    for (let lane = 0; lane < 4; lane++) {
      let h = LANE_SEEDS[lane]!;
      for (let i = 0; i < this.count; i++) h = mixWord(h, this.words[i]!);
      h = hashWord(h ^ this.count);
      this.lanes[lane] = (this.lanes[lane]! + sign * h) >>> 0;
    }
  }

  /** 32 hex digits. */
  hex(): string {
    let out = '';
    for (let lane = 0; lane < 4; lane++) out += this.lanes[lane]!.toString(16).padStart(8, '0');
    return out;
  }
}
