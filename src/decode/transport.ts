import { be16, be32 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket, DecodeResult, IpProto, NoFlowReason } from './decoded-packet.js';
import { decodeGre } from './gre.js';
import { enterTunnel } from './ip.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeUdpTunnel, NOT_A_TUNNEL } from './udp-tunnels.js';

const PROTO_DCCP = 33;
const PROTO_ESP = 50;
const PROTO_SCTP = 132;
const PROTO_UDPLITE = 136;

/**
 * L4 dispatch. `length` is the L4 length on the wire (from the IP header), which may exceed what was
 * captured when the snap length cut the packet.
 */
export function decodeTransport(pkt: DecodedPacket, proto: number, off: number, length: number): number {
  pkt.l4Protocol = proto;
  pkt.l4Offset = off;
  switch (proto) {
    case IpProto.TCP:
      return decodeTcp(pkt, off, length);
    case IpProto.UDP:
    case PROTO_UDPLITE:
      return decodeUdp(pkt, off, length);
    case IpProto.ICMP:
    case IpProto.ICMPV6:
      return decodeIcmp(pkt, off, length);
    case IpProto.GRE:
      return decodeGre(pkt, off, length);
    case IpProto.IPIP:
      if (!enterTunnel(pkt)) return DecodeResult.error;
      return decodeIpv4(pkt, off);
    case IpProto.IPV6:
      if (!enterTunnel(pkt)) return DecodeResult.error;
      return decodeIpv6(pkt, off);
    case PROTO_SCTP:
    case PROTO_DCCP:
      // Both start with 16-bit source and destination ports: enough to key the flow.
      if (off + 4 <= pkt.capturedEnd && length >= 4) {
        pkt.srcPort = be16(pkt.view, off);
        pkt.dstPort = be16(pkt.view, off + 2);
      }
      pkt.payloadOffset = off;
      pkt.payloadLength = length;
      return DecodeResult.flow;
    case PROTO_ESP:
    default:
      pkt.payloadOffset = off;
      pkt.payloadLength = length;
      return DecodeResult.flow;
  }
}

function decodeTcp(pkt: DecodedPacket, off: number, length: number): number {
  const d = pkt.data;
  if (off + 20 > pkt.capturedEnd || length < 20) {
    return pkt.fail(pkt.isFragment && length < 20 ? DecodeError.fragment_l4_header_split : DecodeError.tcp_truncated);
  }
  const headerLength = (d[off + 12]! >> 4) << 2;
  if (headerLength < 20) return pkt.fail(DecodeError.tcp_bad_header_length);
  if (headerLength > length) {
    return pkt.fail(pkt.isFragment ? DecodeError.fragment_l4_header_split : DecodeError.tcp_bad_header_length);
  }
  pkt.srcPort = be16(pkt.view, off);
  pkt.dstPort = be16(pkt.view, off + 2);
  pkt.seq = be32(pkt.view, off + 4);
  pkt.ack = be32(pkt.view, off + 8);
  pkt.tcpFlags = d[off + 13]!;
  pkt.window = be16(pkt.view, off + 14);
  pkt.tcpHeaderLength = headerLength;
  pkt.payloadOffset = off + headerLength;
  pkt.payloadLength = length - headerLength;
  if (headerLength > 20) {
    const optionsEnd = off + headerLength;
    decodeTcpOptions(pkt, off + 20, Math.min(optionsEnd, pkt.capturedEnd), optionsEnd > pkt.capturedEnd);
  }
  return DecodeResult.flow;
}

const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WINDOW_SCALE = 3;

/**
 * Reads the options the session table needs (MSS, window scale); a bad option list is an anomaly, not fatal.
 * `cut` says the snap length ended the capture inside the options: an option running past it is not malformed.
 */
function decodeTcpOptions(pkt: DecodedPacket, o: number, end: number, cut: boolean): void {
  const d = pkt.data;
  while (o < end) {
    const kind = d[o]!;
    if (kind === OPT_END) return;
    if (kind === OPT_NOP) {
      o++;
      continue;
    }
    if (o + 2 > end) {
      if (!cut) pkt.anomaly = DecodeError.tcp_bad_option;
      return;
    }
    const len = d[o + 1]!;
    if (len < 2 || o + len > end) {
      if (len < 2 || !cut) pkt.anomaly = DecodeError.tcp_bad_option;
      return;
    }
    if (kind === OPT_MSS && len === 4) pkt.mss = be16(pkt.view, o + 2);
    else if (kind === OPT_WINDOW_SCALE && len === 3) pkt.windowScale = Math.min(d[o + 2]!, 14); // RFC 7323 caps the shift at 14
    o += len;
  }
}

function decodeUdp(pkt: DecodedPacket, off: number, length: number): number {
  if (off + 8 > pkt.capturedEnd || length < 8) {
    return pkt.fail(pkt.isFragment && length < 8 ? DecodeError.fragment_l4_header_split : DecodeError.udp_truncated);
  }
  let udpLength = be16(pkt.view, off + 4);
  if (udpLength === 0 && pkt.ipVersion === 6 && pkt.l4Protocol === IpProto.UDP) udpLength = length; // jumbogram
  if (udpLength < 8) return pkt.fail(DecodeError.udp_bad_length);
  if (udpLength > length) {
    // Wireshark and most stacks keep going with what the IP header allows; so do we, and count it.
    pkt.anomaly = DecodeError.udp_length_exceeds_ip;
    udpLength = length;
  }
  pkt.srcPort = be16(pkt.view, off);
  pkt.dstPort = be16(pkt.view, off + 2);
  pkt.payloadOffset = off + 8;
  pkt.payloadLength = udpLength - 8;
  const tunnel = decodeUdpTunnel(pkt, off + 8, udpLength - 8);
  if (tunnel !== NOT_A_TUNNEL) return tunnel;
  return DecodeResult.flow;
}

/** ICMP (v4) and ICMPv6: echo flows are keyed by their identifier; error messages belong to the flow they quote. */
function decodeIcmp(pkt: DecodedPacket, off: number, length: number): number {
  const d = pkt.data;
  if (off + 4 > pkt.capturedEnd || length < 4) return pkt.fail(DecodeError.icmp_truncated);
  const type = d[off]!;
  pkt.icmpType = type;
  pkt.icmpCode = d[off + 1]!;
  pkt.payloadOffset = off + 4;
  pkt.payloadLength = length - 4;
  const v6 = pkt.l4Protocol === IpProto.ICMPV6;
  if (v6 ? type < 128 : type === 3 || type === 4 || type === 5 || type === 11 || type === 12) {
    return pkt.noFlow(NoFlowReason.icmp_error);
  }
  const echo = v6 ? type === 128 || type === 129 : type === 0 || type === 8;
  if (echo && off + 8 <= pkt.capturedEnd && length >= 8) {
    // The same id in both "ports" keeps request and reply in one bidirectional flow.
    const id = be16(pkt.view, off + 4);
    pkt.srcPort = id;
    pkt.dstPort = id;
  }
  return DecodeResult.flow;
}
