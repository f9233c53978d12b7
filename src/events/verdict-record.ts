import type { MatchRecord } from '../respond/responder.js';
import { SessionTable } from '../session/session-table.js';
import { protoName, sessionAddress } from './session-record.js';

/** One matched session as a JSON line: what matched, what was decided, what stopped it, what was sent. */
export function verdictRecordJson(table: SessionTable, s: number, record: MatchRecord): string {
  const vlan = table.packets(s, 0) > 0 ? table.dirVlan(s, 0) : table.dirVlan(s, 1);
  return JSON.stringify({
    ts: Math.round(record.ts * 1e6) / 1e6,
    proto: protoName(table.proto(s)),
    src: sessionAddress(table, s, 0),
    sport: table.port(s, 0),
    dst: sessionAddress(table, s, 1),
    dport: table.port(s, 1),
    vlan: vlan === 0 ? null : vlan >>> 12,
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
  });
}
