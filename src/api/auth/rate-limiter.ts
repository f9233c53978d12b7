/**
 * Per-token request rate limit: a token bucket per token id, refilled at `rate` per second up to `burst`.
 * Buckets exist only for tokens that passed authentication, so the map is bounded by the number of tokens.
 */

export interface RateDecision {
  readonly allowed: boolean;
  /** Seconds until one request would be allowed (for Retry-After), 0 when allowed. */
  readonly retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  lastMs: number;
  rate: number;
}

const ALLOWED: RateDecision = Object.freeze({ allowed: true, retryAfterSeconds: 0 });

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    /** Default requests per second per token. */
    private readonly defaultRate: number,
    /** Bucket size as a multiple of the rate (default 2 s worth of requests). */
    private readonly burstSeconds = 2,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one request from `key`'s bucket; `rate` overrides the default for this key. */
  take(key: string, rate: number | null = null): RateDecision {
    const r = rate ?? this.defaultRate;
    const burst = Math.max(1, r * this.burstSeconds);
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (bucket === undefined || bucket.rate !== r) {
      bucket = { tokens: burst, lastMs: now, rate: r };
      this.buckets.set(key, bucket);
    } else if (now > bucket.lastMs) {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.lastMs) * r) / 1000);
      bucket.lastMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / r)) };
  }

  /** Forgets a key (a revoked token). */
  forget(key: string): void {
    this.buckets.delete(key);
  }
}
