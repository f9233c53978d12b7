import { be16, be32 } from './bytes.js';
import { DecodeError } from './decode-error.js';
import { DecodedPacket, NoFlowReason } from './decoded-packet.js';
import { decodeTransport } from './transport.js';

const HEADER = 40;
const MAX_EXTENSIONS = 16;
const NH_HOP_BY_HOP = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_AH = 51;
const NH_DEST_OPTIONS = 60;
const NH_MOBILITY = 135;
const NH_HIP = 139;
const NH_SHIM6 = 140;
const OPT_JUMBO = 0xc2;

export function decodeIpv6(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  if (off + HEADER > end) return pkt.fail(DecodeError.ipv6_truncated);
  if (d[off]! >> 4 !== 6) return pkt.fail(DecodeError.ipv6_bad_version);
  const onWire = end + pkt.wireExtra - off;
  let payloadLength = be16(pkt.view, off + 4);
  let next = d[off + 6]!;

  pkt.ipVersion = 6;
  pkt.ipOffset = off;
  pkt.ipHeaderLength = HEADER;
  pkt.ttl = d[off + 7]!;
  pkt.ipId = 0;
  pkt.src0 = be32(pkt.view, off + 8);
  pkt.src1 = be32(pkt.view, off + 12);
  pkt.src2 = be32(pkt.view, off + 16);
  pkt.src3 = be32(pkt.view, off + 20);
  pkt.dst0 = be32(pkt.view, off + 24);
  pkt.dst1 = be32(pkt.view, off + 28);
  pkt.dst2 = be32(pkt.view, off + 32);
  pkt.dst3 = be32(pkt.view, off + 36);

  // A zero payload length with a hop-by-hop header is a jumbogram (RFC 2675): the length is in an option.
  if (payloadLength === 0 && next === NH_HOP_BY_HOP) {
    const jumbo = findJumboLength(d, pkt.view, off + HEADER, end);
    if (jumbo > 0) payloadLength = jumbo;
  }
  if (HEADER + payloadLength > onWire) return pkt.fail(DecodeError.ipv6_bad_payload_length);
  pkt.ipTotalLength = HEADER + payloadLength;
  const limit = off + HEADER + payloadLength;

  let o = off + HEADER;
  for (let count = 0; ; count++) {
    if (count > MAX_EXTENSIONS) return pkt.fail(DecodeError.ipv6_too_many_extensions);
    let length: number;
    switch (next) {
      case NH_HOP_BY_HOP:
      case NH_ROUTING:
      case NH_DEST_OPTIONS:
      case NH_MOBILITY:
      case NH_HIP:
      case NH_SHIM6:
        if (o + 2 > end || o + 2 > limit) return pkt.fail(DecodeError.ipv6_extension_truncated);
        length = (d[o + 1]! + 1) << 3;
        break;
      case NH_AH:
        if (o + 2 > end || o + 2 > limit) return pkt.fail(DecodeError.ipv6_extension_truncated);
        length = (d[o + 1]! + 2) << 2;
        break;
      case NH_FRAGMENT: {
        if (o + 8 > end || o + 8 > limit) return pkt.fail(DecodeError.ipv6_extension_truncated);
        const offsetAndFlags = be16(pkt.view, o + 2);
        if (offsetAndFlags & 0xfff9) {
          pkt.isFragment = true;
          pkt.ipId = be32(pkt.view, o + 4);
          if (offsetAndFlags & 0xfff8) return pkt.noFlow(NoFlowReason.ipv6_fragment);
        }
        // First fragment, or an atomic fragment (offset 0, no more): the L4 header follows.
        length = 8;
        break;
      }
      default:
        pkt.ipHeaderLength = o - off;
        return decodeTransport(pkt, next, o, limit - o);
    }
    if (o + length > limit) return pkt.fail(DecodeError.ipv6_extension_truncated);
    if (o + length > end) return pkt.fail(DecodeError.ipv6_extension_truncated);
    next = d[o]!;
    o += length;
  }
}

function findJumboLength(d: Uint8Array, v: DataView, o: number, end: number): number {
  if (o + 2 > end) return 0;
  const stop = Math.min(end, o + ((d[o + 1]! + 1) << 3));
  let p = o + 2;
  while (p < stop) {
    const type = d[p]!;
    if (type === 0) {
      p++; // Pad1
      continue;
    }
    if (p + 2 > stop) return 0;
    const len = d[p + 1]!;
    if (type === OPT_JUMBO && len === 4 && p + 6 <= stop) return be32(v, p + 2);
    p += 2 + len;
  }
  return 0;
}
