import { be16 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket, DecodeResult } from './decoded-packet.js';
import { decodeEthernet, decodeEtherType } from './ethernet.js';
import { enterTunnel } from './ip.js';
import { decodePpp } from './ppp.js';

const GRE_CHECKSUM = 0x8000;
const GRE_ROUTING = 0x4000;
const GRE_KEY = 0x2000;
const GRE_SEQUENCE = 0x1000;
const GRE_ACK = 0x0080; // version 1 (PPTP) only
const PROTO_ERSPAN_1_2 = 0x88be;
const PROTO_ERSPAN_3 = 0x22eb;
const PROTO_PPP = 0x880b;
const PROTO_TRANSPARENT_ETHERNET = 0x6558;

/** Whether 4 bytes look like a GRE header we can open (used before committing to GRE-in-UDP). */
export function isPlausibleGre(d: Uint8Array, off: number): boolean {
  const flags = (d[off]! << 8) | d[off + 1]!;
  const version = flags & 7;
  if (version === 0) return (flags & (0x4000 | 0x0ff8)) === 0;
  return version === 1 && (flags & 0x2000) !== 0;
}

/** GRE (RFC 2784/2890), PPTP's enhanced GRE, and the ERSPAN types that ride in it. */
export function decodeGre(pkt: DecodedPacket, off: number, length: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  if (off + 4 > end || length < 4) return pkt.fail(DecodeError.gre_truncated);
  const flags = be16(pkt.view, off);
  const proto = be16(pkt.view, off + 2);
  const version = flags & 7;
  let headerLength = 4;
  if (version === 0) {
    if (flags & GRE_ROUTING) return pkt.fail(DecodeError.gre_unsupported); // RFC 1701 source routing: obsolete
    if (flags & GRE_CHECKSUM) headerLength += 4;
    if (flags & GRE_KEY) headerLength += 4;
    if (flags & GRE_SEQUENCE) headerLength += 4;
  } else if (version === 1) {
    headerLength += 4; // payload length + call id ("key")
    if (flags & GRE_SEQUENCE) headerLength += 4;
    if (flags & GRE_ACK) headerLength += 4;
  } else {
    return pkt.fail(DecodeError.gre_unsupported);
  }
  if (off + headerLength > end || headerLength > length) return pkt.fail(DecodeError.gre_truncated);
  if (!enterTunnel(pkt)) return DecodeResult.error;
  const inner = off + headerLength;
  switch (proto) {
    case PROTO_ERSPAN_1_2:
      // Type I has no ERSPAN header (and no sequence number); type II has an 8-byte one.
      if (!(flags & GRE_SEQUENCE)) return decodeInnerEthernet(pkt, inner, 0);
      if (inner + 8 > end) return pkt.fail(DecodeError.erspan_truncated);
      return decodeInnerEthernet(pkt, inner + 8, be16(pkt.view, inner) & 0x0fff);
    case PROTO_ERSPAN_3: {
      if (inner + 12 > end) return pkt.fail(DecodeError.erspan_truncated);
      const vlan = be16(pkt.view, inner) & 0x0fff;
      const hasPlatformHeader = d[inner + 11]! & 1;
      const frameType = (d[inner + 10]! >> 2) & 0x1f;
      const payload = inner + 12 + (hasPlatformHeader ? 8 : 0);
      if (payload >= end) return pkt.fail(DecodeError.erspan_truncated);
      // Frame type 0 is Ethernet; 2 is a bare IP packet.
      if (frameType === 2) return decodeEtherType(pkt, (d[payload]! >> 4) === 6 ? 0x86dd : 0x0800, payload);
      return decodeInnerEthernet(pkt, payload, vlan);
    }
    case PROTO_PPP:
      return decodePpp(pkt, inner);
    case PROTO_TRANSPARENT_ETHERNET:
      return decodeInnerEthernet(pkt, inner, 0);
    default:
      return decodeEtherType(pkt, proto, inner);
  }
}

/**
 * A mirrored Ethernet frame inside a tunnel: its own VLAN tags replace the transport's. ERSPAN also states
 * the original VLAN in its header, which counts when the mirrored frame itself carries no tag.
 */
export function decodeInnerEthernet(pkt: DecodedPacket, off: number, headerVlan: number): number {
  pkt.vlanCount = 0;
  pkt.vlan0 = 0;
  pkt.vlan1 = 0;
  const result = decodeEthernet(pkt, off);
  if (headerVlan !== 0 && pkt.vlanCount === 0) {
    pkt.vlan0 = headerVlan;
    pkt.vlanCount = 1;
  }
  return result;
}
