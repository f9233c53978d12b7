import { LinkType } from '../capture/link-type.js';
import { be16 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket } from './decoded-packet.js';
import { decodeEthernet, decodeEtherType } from './ethernet.js';
import { decodeIp } from './ip.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodePpp } from './ppp.js';

const SLL_HEADER = 16;
const SLL2_HEADER = 20;
const NFLOG_PAYLOAD = 9;

/** Entry point below the capture source: dispatches on the link type of the record. */
export function decodeLinkLayer(pkt: DecodedPacket, off: number): number {
  const end = pkt.capturedEnd;
  switch (pkt.linkType) {
    case LinkType.ETHERNET:
      pkt.l2Offset = off;
      return decodeEthernet(pkt, off);
    case LinkType.RAW:
    case LinkType.RAW_ALT:
    case LinkType.RAW_ALT_OPENBSD:
      return decodeIp(pkt, off);
    // These two link types promise one version: a packet of the other is malformed, not reinterpreted.
    case LinkType.IPV4:
      return decodeIpv4(pkt, off);
    case LinkType.IPV6:
      return decodeIpv6(pkt, off);
    case LinkType.LINUX_SLL:
      if (off + SLL_HEADER > end) return pkt.fail(DecodeError.sll_truncated);
      return decodeEtherType(pkt, be16(pkt.view, off + 14), off + SLL_HEADER);
    case LinkType.LINUX_SLL2:
      if (off + SLL2_HEADER > end) return pkt.fail(DecodeError.sll_truncated);
      return decodeEtherType(pkt, be16(pkt.view, off), off + SLL2_HEADER);
    case LinkType.NULL:
    case LinkType.LOOP:
      return decodeNull(pkt, off);
    case LinkType.PPP:
    case LinkType.PPP_HDLC:
      return decodePpp(pkt, off);
    case LinkType.NFLOG:
      return decodeNflog(pkt, off);
    default:
      return pkt.fail(DecodeError.link_type_unsupported);
  }
}

/** BSD loopback: a 4-byte address family, in the byte order of the machine that captured (NULL) or network order (LOOP). */
function decodeNull(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  if (off + 4 > pkt.capturedEnd) return pkt.fail(DecodeError.null_truncated);
  let family = ((d[off]! << 24) | (d[off + 1]! << 16) | (d[off + 2]! << 8) | d[off + 3]!) >>> 0;
  // Families are small numbers: if it reads big, the capturing machine was little-endian.
  if (family > 0xffff) family = (d[off]! | (d[off + 1]! << 8) | (d[off + 2]! << 16) | (d[off + 3]! << 24)) >>> 0;
  switch (family) {
    case 2: // AF_INET everywhere
    case 24: // AF_INET6 on NetBSD/OpenBSD
    case 28: // AF_INET6 on FreeBSD
    case 30: // AF_INET6 on macOS
    case 10: // AF_INET6 on Linux (seen in some converted files)
      return decodeIp(pkt, off + 4);
    default:
      return pkt.fail(DecodeError.null_family_unknown);
  }
}

/** Linux NFLOG: a 4-byte header, then TLVs (host byte order, little-endian in practice); the packet is TLV 9. */
function decodeNflog(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  if (off + 4 > end) return pkt.fail(DecodeError.nflog_truncated);
  let o = off + 4;
  while (o + 4 <= end) {
    const len = d[o]! | (d[o + 1]! << 8);
    const type = d[o + 2]! | (d[o + 3]! << 8);
    if (len < 4) return pkt.fail(DecodeError.nflog_bad_tlv);
    if (type === NFLOG_PAYLOAD) {
      if (o + len > end + pkt.wireExtra) return pkt.fail(DecodeError.nflog_bad_tlv);
      return decodeIp(pkt, o + 4);
    }
    o += (len + 3) & ~3;
  }
  return pkt.fail(DecodeError.nflog_truncated);
}
