import { DecodedPacket } from '../decode/decoded-packet.js';
import { foldChecksum, sumWords } from './checksum.js';
import { put16, put32, writeEthernetHeader, writeIpHeader } from './frame-header.js';

/**
 * Builds an ICMP "destination unreachable, communication administratively prohibited" (v4: type 3 code 13;
 * v6: type 1 code 1) back to the sender of `pkt`, quoting its IP header and first 8 payload bytes as RFC 792
 * asks (IPv6: as much as fits, here the same). It looks like it came from the destination. Ethernet framing
 * mirrors the trigger's MACs; VLAN tags are those given. Returns the frame length.
 */
export function writeProhibitedFrame(out: Uint8Array, pkt: DecodedPacket, vlan: number, vlanCount: number, srcMac: Uint8Array, srcMacOffset: number, dstMac: Uint8Array, dstMacOffset: number): number {
  const v4 = pkt.ipVersion === 4;
  const o = writeEthernetHeader(out, dstMac, dstMacOffset, srcMac, srcMacOffset, vlan, vlanCount, v4 ? 0x0800 : 0x86dd);
  const quoteLength = Math.min(pkt.ipHeaderLength + 8, pkt.capturedEnd - pkt.ipOffset);
  const icmpLength = 8 + quoteLength;
  // From the destination back to the sender.
  const addresses = { src0: pkt.dst0, src1: pkt.dst1, src2: pkt.dst2, src3: pkt.dst3, dst0: pkt.src0, dst1: pkt.src1, dst2: pkt.src2, dst3: pkt.src3 };
  const pseudo = writeIpHeader(out, o, pkt.ipVersion, v4 ? 1 : 58, 64, icmpLength, addresses, false);
  const icmp = o + (v4 ? 20 : 40);
  out[icmp] = v4 ? 3 : 1; // destination unreachable
  out[icmp + 1] = v4 ? 13 : 1; // administratively prohibited
  put16(out, icmp + 2, 0);
  put32(out, icmp + 4, 0);
  out.set(pkt.data.subarray(pkt.ipOffset, pkt.ipOffset + quoteLength), icmp + 8);
  // ICMPv6 covers a pseudo-header; ICMP for IPv4 covers only itself.
  put16(out, icmp + 2, foldChecksum(sumWords(out, icmp, icmp + icmpLength, v4 ? 0 : pseudo)));
  return icmp + icmpLength;
}
