import { decideSession } from '../intel/precedence.js';
import type { IntelSet } from '../intel/intel-set.js';
import { SessionTable } from '../session/session-table.js';

/**
 * The intel-match stage: decides, for a session, which intel entry (if any) applies, and caches that
 * verdict on the session with the intel version it was computed at. A session is matched on its first
 * packet and again on its next packet whenever the intel set has changed since, so an indicator added now
 * also catches a long-lived session that is already open; otherwise a packet costs one integer compare.
 *
 * Both endpoints are looked up with their port and protocol; allow on either side wins (decideSession).
 */
export class SessionMatcher {
  /** Sessions matched (lookups done), for metrics and benchmarks. */
  lookups = 0;

  constructor(readonly intel: IntelSet) {}

  /**
   * Returns true when the verdict was (re)computed for this packet, so the caller can tell a new match
   * from one it already acted on. Read the verdict with table.verdict(s) / verdictSide(s).
   */
  refresh(table: SessionTable, s: number): boolean {
    const version = this.intel.version;
    if (table.matchedAt(s, version)) return false;
    this.lookups++;
    const proto = table.proto(s);
    let a: number;
    let b: number;
    if (table.isIpv4(s)) {
      a = this.intel.matchV4(table.addressWord(s, 0, 3), table.port(s, 0), proto);
      b = this.intel.matchV4(table.addressWord(s, 1, 3), table.port(s, 1), proto);
    } else {
      a = this.intel.matchV6(table.addressWord(s, 0, 0), table.addressWord(s, 0, 1), table.addressWord(s, 0, 2), table.addressWord(s, 0, 3), table.port(s, 0), proto);
      b = this.intel.matchV6(table.addressWord(s, 1, 0), table.addressWord(s, 1, 1), table.addressWord(s, 1, 2), table.addressWord(s, 1, 3), table.port(s, 1), proto);
    }
    const decided = decideSession(this.intel, a, b);
    table.setVerdict(s, version, decided, decided >= 0 && decided === b && decided !== a ? 1 : 0);
    return true;
  }
}
