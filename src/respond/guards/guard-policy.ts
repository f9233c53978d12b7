import type { IntelSet } from '../../intel/intel-set.js';
import { CircuitBreaker, CircuitBreakerOptions, DEFAULT_CIRCUIT_BREAKER } from './circuit-breaker.js';
import { TargetRateLimiter } from './target-rate-limiter.js';
import { TokenBucket } from './token-bucket.js';

/** What stopped an action (null = nothing did). Names appear in verdict logs and metrics. */
export type GuardName =
  | 'allowlist'
  | 'never_block'
  | 'monitor_mode'
  | 'monitor_source'
  | 'circuit_breaker'
  | 'rate_global'
  | 'rate_target'
  | 'not_injectable';

export interface GuardOptions {
  /** Global monitor (dry-run) mode: decisions are logged, nothing is sent. */
  monitor: boolean;
  /** Intel sources whose block entries only alert. */
  monitorSources: ReadonlySet<string>;
  /**
   * Addresses never reset whatever the intel says: the sensor's own management addresses, gateways, DNS
   * servers. Held as allow entries in a separate set (configuration, not intel: a feed cannot remove them).
   */
  neverBlock: IntelSet | null;
  /** RST packets per second, all targets together, and per target address. */
  globalRate: number;
  globalBurst: number;
  targetRate: number;
  targetBurst: number;
  circuitBreaker: CircuitBreakerOptions | null;
}

export const DEFAULT_GUARDS: GuardOptions = {
  monitor: false,
  monitorSources: new Set(),
  neverBlock: null,
  globalRate: 10_000,
  globalBurst: 20_000,
  targetRate: 200,
  targetBurst: 400,
  circuitBreaker: DEFAULT_CIRCUIT_BREAKER,
};

/**
 * The policy side of responding: whether a block decision may be carried out, now. It knows nothing about
 * how a session is killed. The allowlist itself is applied earlier, by intel precedence (allow always wins).
 */
export class GuardPolicy {
  private readonly global: TokenBucket;
  private readonly perTarget: TargetRateLimiter;
  readonly breaker: CircuitBreaker | null;
  readonly stopped = new Map<GuardName, number>();

  constructor(readonly options: GuardOptions = DEFAULT_GUARDS) {
    this.global = new TokenBucket(options.globalRate, options.globalBurst);
    this.perTarget = new TargetRateLimiter(options.targetRate, options.targetBurst);
    this.breaker = options.circuitBreaker ? new CircuitBreaker(options.circuitBreaker) : null;
  }

  /**
   * Checks a new block decision (once per session) against the standing guards. `neverBlockHit` says whether
   * either endpoint is on the never-block list (the caller looks it up, family-specific).
   */
  admitBlock(now: number, source: string, neverBlockHit: boolean): GuardName | null {
    if (neverBlockHit) return this.stop('never_block');
    if (this.options.monitor) return this.stop('monitor_mode');
    if (this.options.monitorSources.has(source)) return this.stop('monitor_source');
    if (this.breaker && this.breaker.recordBlock(now)) return this.stop('circuit_breaker');
    return null;
  }

  /** Checks the rate caps for sending `count` packets to `target` at `now`. */
  admitPackets(now: number, target: string, count: number): GuardName | null {
    // Monitor mode can be switched on at run time (the fleet's enforcement switch): it stops re-injection too.
    if (this.options.monitor) return this.stop('monitor_mode');
    if (this.breaker && this.breaker.isOpen(now)) return this.stop('circuit_breaker');
    if (!this.perTarget.take(target, now, count)) return this.stop('rate_target');
    if (!this.global.take(now, count)) return this.stop('rate_global');
    return null;
  }

  stop(name: GuardName): GuardName {
    this.stopped.set(name, (this.stopped.get(name) ?? 0) + 1);
    return name;
  }
}
