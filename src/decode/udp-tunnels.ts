import { be16 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket, DecodeResult } from './decoded-packet.js';
import { decodeMpls } from './ethernet.js';
import { decodeGre, decodeInnerEthernet, isPlausibleGre } from './gre.js';
import { enterTunnel } from './ip.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';

/** Returned when the UDP payload is not a tunnel we open: the packet stays a plain UDP flow. */
export const NOT_A_TUNNEL = -100;

const PORT_VXLAN = 4789;
const PORT_VXLAN_GPE = 4790;
const PORT_GENEVE = 6081;
const PORT_GTP_U = 2152;
const PORT_TEREDO = 3544;
const PORT_GRE_IN_UDP = 4754; // RFC 8086
const PORT_MPLS_IN_UDP = 6635; // RFC 7510

/**
 * Tunnels that mirrored traffic arrives in over UDP. Each header is checked completely before anything is
 * overwritten, so a payload that only happens to use a tunnel port falls back to a plain UDP flow.
 */
export function decodeUdpTunnel(pkt: DecodedPacket, off: number, length: number): number {
  const port = pickTunnelPort(pkt.srcPort, pkt.dstPort);
  switch (port) {
    case PORT_VXLAN:
      return decodeVxlan(pkt, off, length);
    case PORT_VXLAN_GPE:
      return decodeVxlanGpe(pkt, off, length);
    case PORT_GENEVE:
      return decodeGeneve(pkt, off, length);
    case PORT_GTP_U:
      return decodeGtpU(pkt, off, length);
    case PORT_TEREDO:
      return decodeTeredo(pkt, off, length);
    case PORT_GRE_IN_UDP:
      if (length < 4 || off + 4 > pkt.capturedEnd || !isPlausibleGre(pkt.data, off)) return NOT_A_TUNNEL;
      return decodeGre(pkt, off, length);
    case PORT_MPLS_IN_UDP:
      if (length < 4 || off + 4 > pkt.capturedEnd) return NOT_A_TUNNEL;
      if (!enterTunnel(pkt)) return DecodeResult.error;
      return decodeMpls(pkt, off);
    default:
      return NOT_A_TUNNEL;
  }
}

function isTunnelPort(port: number): boolean {
  return (
    port === PORT_VXLAN || port === PORT_VXLAN_GPE || port === PORT_GENEVE || port === PORT_GTP_U ||
    port === PORT_TEREDO || port === PORT_GRE_IN_UDP || port === PORT_MPLS_IN_UDP
  );
}

/**
 * The destination port names the service. A source port counts only for Teredo and GTP-U, whose servers
 * answer from the well-known port; for the others a matching source port is as likely an ephemeral port a
 * NAT chose (a DNS query from port 6081 must stay a DNS query, or a client could hide by picking its port).
 */
function pickTunnelPort(src: number, dst: number): number {
  if (isTunnelPort(dst)) return dst;
  if (src === PORT_TEREDO || src === PORT_GTP_U) return src;
  return 0;
}

function decodeVxlan(pkt: DecodedPacket, off: number, length: number): number {
  if (length < 8 + 14 || off + 8 > pkt.capturedEnd) return NOT_A_TUNNEL;
  if (!(pkt.data[off]! & 0x08)) return NOT_A_TUNNEL; // "I" flag: a valid VNI is present
  if (!enterTunnel(pkt)) return DecodeResult.error;
  return decodeInnerEthernet(pkt, off + 8, 0);
}

/** VXLAN-GPE: like VXLAN, with a next-protocol byte. */
function decodeVxlanGpe(pkt: DecodedPacket, off: number, length: number): number {
  if (length < 8 || off + 8 > pkt.capturedEnd) return NOT_A_TUNNEL;
  const d = pkt.data;
  if (!(d[off]! & 0x04)) return decodeVxlan(pkt, off, length); // no "P" flag: plain VXLAN on the GPE port
  if (!enterTunnel(pkt)) return DecodeResult.error;
  return decodeByNextProtocol(pkt, d[off + 3]!, off + 8, DecodeError.vxlan_truncated);
}

/** Next-protocol numbers shared by VXLAN-GPE and NSH. */
function decodeByNextProtocol(pkt: DecodedPacket, next: number, off: number, unknownError: number): number {
  switch (next) {
    case 1:
      return decodeIpv4(pkt, off);
    case 2:
      return decodeIpv6(pkt, off);
    case 3:
      return decodeInnerEthernet(pkt, off, 0);
    case 4:
      return decodeNsh(pkt, off);
    case 5:
      return decodeMpls(pkt, off);
    default:
      return pkt.fail(unknownError);
  }
}

/** Network Service Header (RFC 8300): length in 4-byte words, then the next protocol. */
export function decodeNsh(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  if (off + 8 > pkt.capturedEnd) return pkt.fail(DecodeError.nsh_truncated);
  const words = d[off + 1]! & 0x3f;
  if (words < 2 || off + words * 4 > pkt.capturedEnd) return pkt.fail(DecodeError.nsh_truncated);
  if (!enterTunnel(pkt)) return DecodeResult.error;
  return decodeByNextProtocol(pkt, d[off + 3]!, off + words * 4, DecodeError.nsh_truncated);
}

function decodeGeneve(pkt: DecodedPacket, off: number, length: number): number {
  const d = pkt.data;
  if (length < 8 || off + 8 > pkt.capturedEnd) return NOT_A_TUNNEL;
  if (d[off]! >> 6 !== 0) return NOT_A_TUNNEL; // version 0 is the only one
  const headerLength = 8 + ((d[off]! & 0x3f) << 2);
  const proto = be16(pkt.view, off + 2);
  if (proto !== 0x6558 && proto !== 0x0800 && proto !== 0x86dd) return NOT_A_TUNNEL;
  if (headerLength > length || off + headerLength > pkt.capturedEnd) return pkt.fail(DecodeError.geneve_truncated);
  if (!enterTunnel(pkt)) return DecodeResult.error;
  if (proto === 0x6558) return decodeInnerEthernet(pkt, off + headerLength, 0);
  if (proto === 0x0800) return decodeIpv4(pkt, off + headerLength);
  return decodeIpv6(pkt, off + headerLength);
}

/** GTP-U (3GPP TS 29.281): only G-PDUs (type 255) carry user packets; signalling stays a UDP flow. */
function decodeGtpU(pkt: DecodedPacket, off: number, length: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  if (length < 8 || off + 8 > end) return NOT_A_TUNNEL;
  const flags = d[off]!;
  if (flags >> 5 !== 1 || !(flags & 0x10) || d[off + 1] !== 0xff) return NOT_A_TUNNEL;
  let o = off + 8;
  if (flags & 0x07) {
    if (o + 4 > end) return pkt.fail(DecodeError.gtp_truncated);
    let nextExtension = flags & 0x04 ? d[o + 3]! : 0;
    o += 4;
    while (nextExtension !== 0) {
      if (o + 1 > end) return pkt.fail(DecodeError.gtp_truncated);
      const extensionLength = d[o]! << 2;
      if (extensionLength === 0 || o + extensionLength > end) return pkt.fail(DecodeError.gtp_truncated);
      nextExtension = d[o + extensionLength - 1]!;
      o += extensionLength;
    }
  }
  if (o + 1 > end) return pkt.fail(DecodeError.gtp_truncated);
  const version = d[o]! >> 4;
  if (version !== 4 && version !== 6) return pkt.fail(DecodeError.gtp_truncated);
  if (!enterTunnel(pkt)) return DecodeResult.error;
  return version === 4 ? decodeIpv4(pkt, o) : decodeIpv6(pkt, o);
}

/** Teredo (RFC 4380): IPv6 in UDP, optionally behind authentication and origin-indication headers. */
function decodeTeredo(pkt: DecodedPacket, off: number, length: number): number {
  const d = pkt.data;
  const end = Math.min(pkt.capturedEnd, off + length);
  let o = off;
  if (o + 2 <= end && d[o] === 0 && d[o + 1] === 1) {
    if (o + 4 > end) return NOT_A_TUNNEL;
    o += 4 + d[o + 2]! + d[o + 3]! + 9; // ids, authenticator, nonce (8) and confirmation (1)
  }
  if (o + 2 <= end && d[o] === 0 && d[o + 1] === 0) o += 8;
  // Only a plausible IPv6 header makes this Teredo (Wireshark uses the same heuristic).
  if (o + 40 > end || d[o]! >> 4 !== 6 || 40 + be16(pkt.view, o + 4) > off + length - o) return NOT_A_TUNNEL;
  if (!enterTunnel(pkt)) return DecodeResult.error;
  return decodeIpv6(pkt, o);
}

