/** Test helpers: a seeded PRNG (so failures reproduce) and address utilities for reference models. */

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

export function randU32(rand: () => number): number {
  return Math.floor(rand() * 4294967296) >>> 0;
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[randInt(rand, items.length)]!;
}

export function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

export function maskWord6(len: number, word: number): number {
  const bits = len - 32 * word;
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function v4Text(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function v6Text(w: readonly number[]): string {
  const groups: string[] = [];
  for (const word of w) groups.push((word >>> 16).toString(16), (word & 0xffff).toString(16));
  return groups.join(':'); // uncompressed form: the parser must accept it
}
