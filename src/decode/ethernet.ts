import { be16 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket, DecodeResult, NoFlowReason } from './decoded-packet.js';
import { decodeInnerEthernet } from './gre.js';
import { enterTunnel } from './ip.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodePppProtocol } from './ppp.js';
import { decodeNsh } from './udp-tunnels.js';

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  QINQ_OLD1: 0x9100,
  QINQ_OLD2: 0x9200,
  IPV6: 0x86dd,
  MPLS: 0x8847,
  MPLS_MULTICAST: 0x8848,
  PPPOE_SESSION: 0x8864,
  TRANSPARENT_ETHERNET: 0x6558,
  VNTAG: 0x8926,
  FABRICPATH: 0x8903,
  NSH: 0x894f,
} as const;

const ETHERNET_HEADER = 14;
/** More tags than this is not a real network, it is an attack on decoders. */
const MAX_VLAN_TAGS = 8;
const MAX_MPLS_LABELS = 16;

export function decodeEthernet(pkt: DecodedPacket, off: number): number {
  if (off + ETHERNET_HEADER > pkt.capturedEnd) return pkt.fail(DecodeError.ethernet_truncated);
  return decodeEtherType(pkt, be16(pkt.view, off + 12), off + ETHERNET_HEADER);
}

/** Follows a chain of EtherTypes (VLAN tags, MPLS, PPPoE, ...) down to IP. */
export function decodeEtherType(pkt: DecodedPacket, type: number, off: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  let tags = 0;
  for (;;) {
    switch (type) {
      case EtherType.IPV4:
        return decodeIpv4(pkt, off);
      case EtherType.IPV6:
        return decodeIpv6(pkt, off);
      case EtherType.VLAN:
      case EtherType.QINQ:
      case EtherType.QINQ_OLD1:
      case EtherType.QINQ_OLD2: {
        if (off + 4 > end) return pkt.fail(DecodeError.vlan_truncated);
        if (++tags > MAX_VLAN_TAGS) return pkt.fail(DecodeError.vlan_too_many_tags);
        const vid = be16(pkt.view, off) & 0x0fff;
        if (pkt.vlanCount === 0) pkt.vlan0 = vid;
        else if (pkt.vlanCount === 1) pkt.vlan1 = vid;
        pkt.vlanCount++;
        type = be16(pkt.view, off + 2);
        off += 4;
        continue;
      }
      case EtherType.MPLS:
      case EtherType.MPLS_MULTICAST:
        return decodeMpls(pkt, off);
      case EtherType.PPPOE_SESSION:
        // version/type, code, session id, length: then a 2-byte PPP protocol.
        if (off + 8 > end) return pkt.fail(DecodeError.pppoe_truncated);
        return decodePppProtocol(pkt, be16(pkt.view, off + 6), off + 8);
      case EtherType.TRANSPARENT_ETHERNET:
        // Ethernet in Ethernet: a nesting level like any tunnel, so a crafted chain cannot recurse without end.
        if (!enterTunnel(pkt)) return DecodeResult.error;
        return decodeInnerEthernet(pkt, off, 0);
      case EtherType.VNTAG:
        if (off + 6 > end) return pkt.fail(DecodeError.vntag_truncated);
        type = be16(pkt.view, off + 4);
        off += 6;
        continue;
      case EtherType.FABRICPATH:
        // Outer FabricPath header ends with a 4-byte tag; a complete classic Ethernet frame follows.
        if (off + 2 + ETHERNET_HEADER > end) return pkt.fail(DecodeError.fabricpath_truncated);
        if (!enterTunnel(pkt)) return DecodeResult.error;
        return decodeEthernet(pkt, off + 2);
      case EtherType.NSH:
        return decodeNsh(pkt, off);
      default:
        if (type >= 0x0600) return pkt.noFlow(NoFlowReason.non_ip);
        // 802.3 length field: LLC; only SNAP carries an EtherType we can follow. Counted with the tags,
        // so a chain of SNAP headers ends like a chain of tags.
        if (off + 3 > end) return pkt.fail(DecodeError.llc_truncated);
        if (d[off] !== 0xaa || d[off + 1] !== 0xaa || d[off + 2] !== 0x03) return pkt.noFlow(NoFlowReason.non_ip);
        if (off + 8 > end) return pkt.fail(DecodeError.llc_truncated);
        if (++tags > MAX_VLAN_TAGS) return pkt.fail(DecodeError.vlan_too_many_tags);
        type = be16(pkt.view, off + 6);
        off += 8;
        continue;
    }
  }
}

/**
 * MPLS label stack, then the payload guessed from its first nibble as routers and Wireshark do:
 * 4 = IPv4, 6 = IPv6, 0 = pseudowire control word followed by Ethernet.
 */
export function decodeMpls(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  for (let labels = 0; ; labels++) {
    if (labels >= MAX_MPLS_LABELS) return pkt.fail(DecodeError.mpls_too_many_labels);
    if (off + 4 > end) return pkt.fail(DecodeError.mpls_truncated);
    const bottom = d[off + 2]! & 1;
    off += 4;
    if (bottom) break;
  }
  if (off + 1 > end) return pkt.fail(DecodeError.mpls_truncated);
  const nibble = d[off]! >> 4;
  if (nibble === 4) return decodeIpv4(pkt, off);
  if (nibble === 6) return decodeIpv6(pkt, off);
  // An Ethernet pseudowire is a nesting level: bounded like a tunnel.
  if (!enterTunnel(pkt)) return DecodeResult.error;
  if (nibble === 0) {
    if (off + 4 > end) return pkt.fail(DecodeError.mpls_truncated);
    return decodeInnerEthernet(pkt, off + 4, 0);
  }
  return decodeInnerEthernet(pkt, off, 0);
}
