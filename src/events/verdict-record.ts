import type { MatchRecord } from '../respond/responder.js';
import { SessionTable } from '../session/session-table.js';
import { sessionIdentity } from './session-record.js';

/** One matched session as a JSON line: what matched, what was decided, what stopped it, what was sent. */
export function verdictRecordJson(table: SessionTable, s: number, record: MatchRecord): string {
  return JSON.stringify({
    ts: Math.round(record.ts * 1e6) / 1e6,
    ...sessionIdentity(table, s),
    indicator: record.indicator,
    entryId: record.entryId,
    source: record.source,
    reason: record.reason,
    matchedSide: record.matchedSide,
    action: record.action,
    guard: record.guard,
    rsts: record.resets,
    rounds: record.rounds,
    icmp: record.icmp,
    peerReset: record.peerReset,
    withdrawn: record.withdrawn,
  });
}
