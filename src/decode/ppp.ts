import { DecodeError } from './decode-error.js';
import { DecodedPacket, NoFlowReason } from './decoded-packet.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeMpls } from './ethernet.js';

/** PPP: optional HDLC address/control (FF 03), then a 1- or 2-byte protocol number. */
export function decodePpp(pkt: DecodedPacket, off: number): number {
  const d = pkt.data;
  const end = pkt.capturedEnd;
  if (off + 2 > end) return pkt.fail(DecodeError.ppp_truncated);
  if (d[off] === 0xff && d[off + 1] === 0x03) off += 2;
  if (off + 1 > end) return pkt.fail(DecodeError.ppp_truncated);
  let proto: number;
  if (d[off]! & 1) {
    proto = d[off]!; // protocol-field compression: a single odd byte
    off += 1;
  } else {
    if (off + 2 > end) return pkt.fail(DecodeError.ppp_truncated);
    proto = (d[off]! << 8) | d[off + 1]!;
    off += 2;
  }
  return decodePppProtocol(pkt, proto, off);
}

export function decodePppProtocol(pkt: DecodedPacket, proto: number, off: number): number {
  switch (proto) {
    case 0x21:
      return decodeIpv4(pkt, off);
    case 0x57:
      return decodeIpv6(pkt, off);
    case 0x281:
      return decodeMpls(pkt, off);
    default:
      return pkt.noFlow(NoFlowReason.non_ip); // LCP, IPCP, CHAP, ...
  }
}
