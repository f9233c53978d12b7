/**
 * Order-independent content digest of a set of entries: two 32-bit lanes, each the sum modulo 2^32 of an
 * independent hash of every live entry (64 bits in all, printed as 16 hex digits). Adding an entry adds its hashes,
 * removing it subtracts them, so the digest follows every change in O(1), and two sensors holding the same entries
 * (whatever order they received them in) print the same digest. Entry hashes are computed from content only (key
 * words, prefix, port, action, expiry, and the content hashes of id, source, reason and tags), never from internal
 * ids or handles. It detects divergence; it is not a cryptographic commitment.
 */
import { hashWord } from './hash.js';

export class ContentDigest {
  private lane0 = 0;
  private lane1 = 0;
  private h0 = 0;
  private h1 = 0;
  private count = 0;

  /** Starts hashing one entry. */
  begin(): void {
    this.h0 = 0x243f6a88;
    this.h1 = 0x85a308d3;
    this.count = 0;
  }

  /** Feeds one 32-bit word of the entry into both lane hashes (two different multipliers: independent lanes). */
  word(value: number): void {
    let a = this.h0 ^ value;
    a = Math.imul(a, 0x9e3779b1);
    this.h0 = a ^ (a >>> 15);
    let b = this.h1 ^ value;
    b = Math.imul(b, 0x85ebca77);
    this.h1 = b ^ (b >>> 13);
    this.count++;
  }

  /** Adds (sign 1) or subtracts (sign -1) the entry hashed since begin(). */
  commit(sign: 1 | -1): void {
    this.lane0 = (this.lane0 + sign * hashWord(this.h0 ^ this.count)) >>> 0;
    this.lane1 = (this.lane1 + sign * hashWord(this.h1 + this.count)) >>> 0;
  }

  /** 16 hex digits. */
  hex(): string {
    return this.lane0.toString(16).padStart(8, '0') + this.lane1.toString(16).padStart(8, '0');
  }
}
