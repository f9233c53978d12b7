/** A token bucket on packet time: `rate` tokens per second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last = -Infinity;

  constructor(readonly rate: number, readonly burst: number) {
    this.tokens = burst;
  }

  /** Takes n tokens if there are enough at time `now` (seconds); false leaves the bucket as it was. */
  take(now: number, n = 1): boolean {
    if (this.last !== -Infinity && now > this.last) this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate);
    if (now > this.last || this.last === -Infinity) this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
