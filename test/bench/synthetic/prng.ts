/**
 * Seeded pseudo-random numbers for the synthetic capture.
 *
 * xoshiro128** works on 32-bit integers only, so V8 keeps it in small-integer arithmetic: it is several times
 * faster than Math.random() and, more to the point, the same seed gives the same capture on every machine.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second normal deviate left over from the last Box-Muller pair. */
  private spareNormal = Number.NaN;

  constructor(seed: number) {
    // splitmix32 spreads a small seed (1, 2, 3...) over the whole state; an all-zero state would be stuck.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (both included). */
  range(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Exponentially distributed with the given mean (inter-arrival times, think times). */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** Standard normal deviate (Box-Muller, caching the second value of each pair). */
  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const v = this.spareNormal;
      this.spareNormal = Number.NaN;
      return v;
    }
    const u = 1 - this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median and shape: RTTs and transfer sizes are roughly log-normal on real links. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /**
   * Index in [0, n) with a Zipf-like (1/rank) popularity: a few servers and names get most of the traffic,
   * as on a real network. Inverse-CDF of the continuous log-uniform distribution, so O(1) with no table.
   */
  zipf(n: number): number {
    const i = Math.floor(Math.exp(this.float() * Math.log(n + 1))) - 1;
    return i < n ? i : n - 1;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
