import type { Engine } from './engine.js';

/**
 * A session is re-matched on its next packet after an intel change; a quiet session has no next packet, so an
 * indicator added now would never reach an idle connection that is already open. After every change this walks
 * the session table in bounded slices (so the capture loop is never held for long), re-matches each session not
 * yet re-matched at the current version, and hands blocked ones to the responder's packet-less path, which
 * resets them at the numbers tracked and probes both ends for the exact ones.
 */
export class QuietSessionSweep {
  private cursor = 0;
  private sweepingVersion = -1;
  private doneVersion = -1;
  /** Sessions looked at, and the ones handed to the responder, since start. */
  visited = 0;
  acted = 0;

  constructor(
    private readonly engine: Engine,
    /** Rows looked at per tick. */
    private readonly budget = 50_000,
  ) {}

  /** Advances the sweep; `tsSec`/`tsNsec` is the wall clock now. Returns true while a sweep is under way. */
  tick(tsSec: number, tsNsec: number): boolean {
    const matcher = this.engine.matcher;
    const responder = this.engine.responder;
    if (!matcher || !responder) return false;
    const version = matcher.intel.version;
    if (version === this.doneVersion) return false;
    if (version !== this.sweepingVersion) {
      // A newer change restarts the walk: sessions already visited at the older version need the newer verdict.
      this.sweepingVersion = version;
      this.cursor = 0;
    }
    const table = this.engine.table;
    const limit = table.rowLimit;
    let n = 0;
    while (this.cursor < limit && n < this.budget) {
      const s = this.cursor++;
      n++;
      if (!table.isLive(s)) continue;
      this.visited++;
      const fresh = matcher.refresh(table, s);
      if (fresh && table.verdict(s) >= 0) {
        this.acted++;
        responder.onQuietSession(s, tsSec, tsNsec, fresh);
      }
    }
    if (this.cursor >= limit) this.doneVersion = version;
    return this.cursor < limit;
  }
}
