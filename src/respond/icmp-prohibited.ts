import { DecodedPacket } from '../decode/decoded-packet.js';
import { foldChecksum, sumWord32, sumWords } from './checksum.js';
import { put16, put32, writeEthernetHeader } from './frame-header.js';

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
  const ip = o;
  let icmp: number;
  if (v4) {
    out[ip] = 0x45;
    out[ip + 1] = 0;
    put16(out, ip + 2, 20 + icmpLength);
    put16(out, ip + 4, 0);
    put16(out, ip + 6, 0);
    out[ip + 8] = 64;
    out[ip + 9] = 1;
    put16(out, ip + 10, 0);
    put32(out, ip + 12, pkt.dst3);
    put32(out, ip + 16, pkt.src3);
    put16(out, ip + 10, foldChecksum(sumWords(out, ip, ip + 20)));
    icmp = ip + 20;
    out[icmp] = 3;
    out[icmp + 1] = 13;
  } else {
    out[ip] = 0x60;
    out[ip + 1] = 0;
    out[ip + 2] = 0;
    out[ip + 3] = 0;
    put16(out, ip + 4, icmpLength);
    out[ip + 6] = 58;
    out[ip + 7] = 64;
    const words = [pkt.dst0, pkt.dst1, pkt.dst2, pkt.dst3, pkt.src0, pkt.src1, pkt.src2, pkt.src3];
    words.forEach((w, i) => put32(out, ip + 8 + 4 * i, w));
    icmp = ip + 40;
    out[icmp] = 1;
    out[icmp + 1] = 1;
  }
  put16(out, icmp + 2, 0);
  put32(out, icmp + 4, 0);
  out.set(pkt.data.subarray(pkt.ipOffset, pkt.ipOffset + quoteLength), icmp + 8);
  let sum = sumWords(out, icmp, icmp + icmpLength);
  if (!v4) {
    for (let i = 0; i < 8; i++) sum += sumWord32(((out[ip + 8 + 4 * i]! << 24) | (out[ip + 9 + 4 * i]! << 16) | (out[ip + 10 + 4 * i]! << 8) | out[ip + 11 + 4 * i]!) >>> 0);
    sum += icmpLength + 58;
  }
  put16(out, icmp + 2, foldChecksum(sum));
  return icmp + icmpLength;
}
