/**
 * Drops to monitor mode when blocks surge far above their recent rate: a bad feed entry (a CDN, a resolver,
 * a cloud range) shows up as a sudden jump in new blocks, and resetting half the network is the worst thing
 * a blocking tool can do. It watches new block decisions per second of packet time, keeps a slow moving
 * average as the baseline, and trips when a second has more than `surgeFactor` × baseline and more than
 * `minPerSecond`. It stays open (monitor only) for `coolDownSeconds`, then closes again.
 */
export interface CircuitBreakerOptions {
  surgeFactor: number;
  minPerSecond: number;
  coolDownSeconds: number;
  /** Weight of each new second in the baseline (smaller = longer memory). */
  smoothing: number;
}

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerOptions = { surgeFactor: 10, minPerSecond: 50, coolDownSeconds: 300, smoothing: 0.05 };

export class CircuitBreaker {
  private second = -1;
  private countThisSecond = 0;
  private baseline = 0;
  private openUntil = -Infinity;
  trips = 0;

  constructor(readonly options: CircuitBreakerOptions = DEFAULT_CIRCUIT_BREAKER) {}

  /** Records one new block decision at `now`; returns true when the breaker is open (do not act). */
  recordBlock(now: number): boolean {
    const second = Math.floor(now);
    if (second !== this.second) {
      if (this.second >= 0) {
        // Fold the finished second (and any silent seconds since) into the baseline.
        const gap = Math.min(second - this.second, 3600);
        this.baseline += this.options.smoothing * (this.countThisSecond - this.baseline);
        for (let i = 1; i < gap; i++) this.baseline -= this.options.smoothing * this.baseline;
      }
      this.second = second;
      this.countThisSecond = 0;
    }
    this.countThisSecond++;
    if (
      now >= this.openUntil &&
      this.countThisSecond > this.options.minPerSecond &&
      this.countThisSecond > this.options.surgeFactor * Math.max(this.baseline, 1)
    ) {
      this.openUntil = now + this.options.coolDownSeconds;
      this.trips++;
    }
    return this.isOpen(now);
  }

  isOpen(now: number): boolean {
    return now < this.openUntil;
  }
}
