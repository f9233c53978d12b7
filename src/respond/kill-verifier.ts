import { TcpFlag } from '../decode/decoded-packet.js';
import type { MatchRecord, ResponseObserver } from './responder.js';

export interface KillVerifierOptions {
  /** A blocked session with no packet for this long after our last round is dead (seconds). */
  readonly silenceSeconds: number;
  /** Rounds the responder may send per session (ResponderOptions.maxRounds): life after the last one is a failure. */
  readonly maxRounds: number;
  /** A kill still showing life this long after the first round is failed, whatever the rounds left (seconds). */
  readonly giveUpSeconds: number;
}

export const DEFAULT_KILL_VERIFIER: KillVerifierOptions = { silenceSeconds: 0.5, maxRounds: 6, giveUpSeconds: 10 };

export type KillOutcome = 'confirmed_reset' | 'confirmed_silence' | 'failed';

export interface KillTimings {
  /** Capture time of the trigger packet → injection call returned (seconds; per round). */
  triggerToInjection(seconds: number): void;
  /** First injection → kill confirmed (seconds). */
  injectionToKill(seconds: number): void;
  /** Every resolved kill. */
  outcome?(s: number, record: MatchRecord, outcome: KillOutcome, seconds: number): void;
}

interface PendingKill {
  /** Wall clock (epoch seconds) when the first and the latest round went out. */
  first: number;
  last: number;
  /** Capture time of the latest packet of the session after our first round (0 = none). */
  lastLife: number;
  /** A packet arrived after the responder had spent every round. */
  lifeAfterLastRound: boolean;
  /** An endpoint closed with FIN after our first round: the exchange ended on its own terms, not by our reset. */
  closedByFin: boolean;
}

/**
 * Verifies kills instead of assuming them. After the first round of resets a kill is pending; it is confirmed
 * when an endpoint resets the session itself (its stack answering our reset or a probe) or when the session
 * falls silent, and failed when it still shows life after the responder has spent every round (the responder
 * re-injects on each later packet until then, at the exact number a challenge ACK reveals), when the endpoints
 * close it with FINs (the exchange finished on its own), or when it lives on for too long.
 */
export class KillVerifier implements ResponseObserver {
  attempted = 0;
  confirmedByReset = 0;
  confirmedBySilence = 0;
  failed = 0;
  private readonly pending = new Map<number, PendingKill>();

  constructor(
    private readonly options: KillVerifierOptions,
    private readonly wallNow: () => number,
    private readonly timings: KillTimings,
    /** Called right after each round is handed to the sink, before its time is taken (flushes batched frames). */
    private readonly afterRound: () => void = () => {},
  ) {}

  get confirmed(): number {
    return this.confirmedByReset + this.confirmedBySilence;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  injected(s: number, record: MatchRecord, round: number, tsSec: number, tsNsec: number): void {
    this.afterRound();
    const now = this.wallNow();
    this.timings.triggerToInjection(Math.max(0, now - (tsSec + tsNsec * 1e-9)));
    const p = this.pending.get(s);
    if (round === 1 || !p) {
      if (round === 1) this.attempted++;
      this.pending.set(s, { first: now, last: now, lastLife: 0, lifeAfterLastRound: false, closedByFin: false });
      return;
    }
    p.last = now;
    void record;
  }

  laterPacket(s: number, record: MatchRecord, tcpFlags: number, tsSec: number, tsNsec: number): void {
    const p = this.pending.get(s);
    if (!p) return;
    const t = tsSec + tsNsec * 1e-9;
    if (tcpFlags & TcpFlag.RST) {
      this.resolve(s, record, p, 'confirmed_reset', t - p.first);
      return;
    }
    if (tcpFlags & TcpFlag.FIN) p.closedByFin = true;
    p.lastLife = t;
    if (record.rounds >= this.options.maxRounds) p.lifeAfterLastRound = true;
  }

  ended(s: number, record: MatchRecord): void {
    const p = this.pending.get(s);
    if (!p) return;
    if (p.lifeAfterLastRound || p.closedByFin) this.resolve(s, record, p, 'failed', 0);
    else this.resolve(s, record, p, 'confirmed_silence', Math.max(p.last, p.lastLife) - p.first);
  }

  /**
   * Resolves pending kills by time; `records` gives each session's record. Call a few times a second.
   */
  sweep(records: ReadonlyMap<number, MatchRecord>): void {
    if (this.pending.size === 0) return;
    const now = this.wallNow();
    for (const [s, p] of this.pending) {
      const record = records.get(s);
      if (!record) {
        this.pending.delete(s);
        continue;
      }
      const lastActivity = Math.max(p.last, p.lastLife);
      if (now - lastActivity >= this.options.silenceSeconds) {
        if (p.lifeAfterLastRound || p.closedByFin) this.resolve(s, record, p, 'failed', 0);
        else this.resolve(s, record, p, 'confirmed_silence', lastActivity - p.first);
      } else if (now - p.first >= this.options.giveUpSeconds) {
        this.resolve(s, record, p, 'failed', 0);
      }
    }
  }

  private resolve(s: number, record: MatchRecord, _p: PendingKill, outcome: KillOutcome, seconds: number): void {
    this.pending.delete(s);
    const elapsed = Math.max(0, seconds);
    if (outcome === 'failed') this.failed++;
    else {
      if (outcome === 'confirmed_reset') this.confirmedByReset++;
      else this.confirmedBySilence++;
      this.timings.injectionToKill(elapsed);
    }
    this.timings.outcome?.(s, record, outcome, elapsed);
  }
}
