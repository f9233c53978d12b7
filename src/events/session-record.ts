import { IpProto } from '../decode/decoded-packet.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';
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
  if (table.isIpv4(session)) return formatIPv4(table.addressWord(session, side, 3));
  return formatIPv6(
    table.addressWord(session, side, 0),
    table.addressWord(session, side, 1),
    table.addressWord(session, side, 2),
    table.addressWord(session, side, 3),
  );
}

/** The fields that name a session in every record about it: protocol, 5-tuple (src = initiator) and VLAN tags. */
export function sessionIdentity(table: SessionTable, s: number) {
  // The initiator's tags, or the responder's when only the responder was seen.
  const vlan = table.packets(s, 0) > 0 ? table.dirVlan(s, 0) : table.dirVlan(s, 1);
  return {
    proto: protoName(table.proto(s)),
    src: sessionAddress(table, s, 0),
    sport: table.port(s, 0),
    dst: sessionAddress(table, s, 1),
    dport: table.port(s, 1),
    vlan: vlan === 0 ? null : vlan >>> 12,
    innerVlan: (vlan & 0xfff) === 0 ? null : vlan & 0xfff,
  };
}

/** The session as one JSON line, written when it ends. Built only when someone asked for the session log. */
export function sessionRecordJson(table: SessionTable, s: number, reason: number): string {
  const toResponder = table.packets(s, 0);
  const toInitiator = table.packets(s, 1);
  return JSON.stringify({
    ...sessionIdentity(table, s),
    firstTs: round6(table.firstTs(s)),
    lastTs: round6(table.lastTs(s)),
    packets: toResponder + toInitiator,
    bytes: table.bytes(s, 0) + table.bytes(s, 1),
    packetsToResponder: toResponder,
    packetsToInitiator: toInitiator,
    bytesToResponder: table.bytes(s, 0),
    bytesToInitiator: table.bytes(s, 1),
    state: SessionStateName[table.state(s)],
    end: endReasonNames[reason],
  });
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
