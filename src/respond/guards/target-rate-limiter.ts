import { TokenBucket } from './token-bucket.js';

/**
 * One token bucket per reset target (the address being reset), so that one busy blocked host cannot use up
 * the global budget. Bounded: past `maxTargets` the least recently used bucket is dropped (a dropped target
 * starts again with a full burst, which errs on the side of the cap, not of blocking more).
 */
export class TargetRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(readonly rate: number, readonly burst: number, readonly maxTargets = 65536) {}

  take(target: string, now: number, n: number): boolean {
    let bucket = this.buckets.get(target);
    if (bucket) {
      this.buckets.delete(target); // re-insert: Map order is our LRU order
    } else {
      bucket = new TokenBucket(this.rate, this.burst);
      if (this.buckets.size >= this.maxTargets) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(target, bucket);
    return bucket.take(now, n);
  }
}
