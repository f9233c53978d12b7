import { IpProto } from '../decode/decoded-packet.js';
import { formatIPv4, formatIPv6Words } from '../net/address.js';
import { endReasonNames, SessionTable } from '../session/session-table.js';
import { SessionStateName } from '../session/tcp-state.js';

export function protoName(proto: number): string {
  switch (proto) {
    case IpProto.TCP:
      return 'tcp';
    case IpProto.UDP:
      return 'udp';
    case IpProto.ICMP:
      return 'icmp';
    case IpProto.ICMPV6:
      return 'icmpv6';
    default:
      return String(proto);
  }
}

/** Text form of one endpoint of a session: side 0 = initiator, 1 = responder. */
export function sessionAddress(table: SessionTable, session: number, side: number): string {
  const a = session * 8 + side * 4;
  return table.isIpv4(session) ? formatIPv4(table.addr[a + 3]!) : formatIPv6Words(table.addr, a);
}

/** The session as one JSON line, written when it ends. Built only when someone asked for the session log. */
export function sessionRecordJson(table: SessionTable, s: number, reason: number): string {
  const ports = table.ports[s]!;
  const d = 2 * s;
  // The initiator's tags, or the responder's when only the responder was seen.
  const vlan = table.packets[d]! > 0 ? table.dirVlan[d]! : table.dirVlan[d + 1]!;
  return JSON.stringify({
    proto: protoName(table.proto[s]!),
    src: sessionAddress(table, s, 0),
    sport: ports >>> 16,
    dst: sessionAddress(table, s, 1),
    dport: ports & 0xffff,
    vlan: vlan === 0 ? null : vlan >>> 12,
    innerVlan: (vlan & 0xfff) === 0 ? null : vlan & 0xfff,
    firstTs: round6(table.firstTs[s]!),
    lastTs: round6(table.lastTs[s]!),
    packets: table.packets[d]! + table.packets[d + 1]!,
    bytes: table.bytes[d]! + table.bytes[d + 1]!,
    packetsToResponder: table.packets[d]!,
    packetsToInitiator: table.packets[d + 1]!,
    bytesToResponder: table.bytes[d]!,
    bytesToInitiator: table.bytes[d + 1]!,
    state: SessionStateName[table.state(s)],
    end: endReasonNames[reason],
  });
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
