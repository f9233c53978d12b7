/**
 * 32-bit integer hashing for the lookup tables and the content digest. Pure integer arithmetic (Math.imul,
 * shifts): no allocation, and the same result on every sensor.
 */

/** Avalanching hash of one 32-bit word ("lowbias32", Chris Wellons' hash-prospector). Result is unsigned. */
export function hashWord(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Folds one more word into a running hash; finish with hashWord(). */
export function mixWord(h: number, w: number): number {
  h ^= w;
  h = Math.imul(h, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** FNV-1a over UTF-16 code units, then avalanched: for interned strings, hashed once each. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed | 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return hashWord(h ^ text.length);
}
