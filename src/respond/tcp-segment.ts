import { foldChecksum, sumWords } from './checksum.js';
import { AddressWords, put16, put32, writeEthernetHeader, writeIpHeader } from './frame-header.js';

/**
 * One TCP segment to craft, from the impersonated endpoint (src) to the endpoint being reached (dst).
 * Addresses use the engine's convention: four 32-bit words, IPv4 mapped as (0, 0, 0xffff, addr).
 */
export interface CraftedSegment extends AddressWords {
  ipVersion: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TCP flags byte (RST, or RST|ACK). */
  flags: number;
  /** TTL / hop limit, as observed from the endpoint impersonated. */
  ttl: number;
  /** VLAN tags of the side being reached: outer << 12 | inner, with their count. */
  vlan: number;
  vlanCount: number;
}

export function newCraftedSegment(): CraftedSegment {
  return { ipVersion: 4, src0: 0, src1: 0, src2: 0, src3: 0, dst0: 0, dst1: 0, dst2: 0, dst3: 0, srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, ttl: 64, vlan: 0, vlanCount: 0 };
}

const TCP_HEADER = 20;
/** Ethernet + two tags + IPv6 + TCP: the largest frame we build. */
export const MAX_CRAFTED_FRAME = 14 + 8 + 40 + TCP_HEADER;

/**
 * Writes an Ethernet frame carrying `seg` into `out` at 0 and returns its length: the MACs given, the VLAN
 * tags of the side reached, IPv4 (DF, id 0) or IPv6, and a TCP header with window 0 and no options, with
 * valid IP and TCP checksums.
 */
export function writeSegmentFrame(out: Uint8Array, seg: CraftedSegment, dstMac: Uint8Array, dstMacOffset: number, srcMac: Uint8Array, srcMacOffset: number): number {
  const o = writeEthernetHeader(out, dstMac, dstMacOffset, srcMac, srcMacOffset, seg.vlan, seg.vlanCount, seg.ipVersion === 4 ? 0x0800 : 0x86dd);
  return o + writeIpSegment(out, o, seg);
}

/** Writes the IP packet (no link layer) at `o`; returns its length. */
export function writeIpSegment(out: Uint8Array, o: number, seg: CraftedSegment): number {
  const pseudo = writeIpHeader(out, o, seg.ipVersion, 6, seg.ttl, TCP_HEADER, seg, true);
  const tcp = o + (seg.ipVersion === 4 ? 20 : 40);
  put16(out, tcp, seg.srcPort);
  put16(out, tcp + 2, seg.dstPort);
  put32(out, tcp + 4, seg.seq);
  put32(out, tcp + 8, seg.ack);
  out[tcp + 12] = (TCP_HEADER / 4) << 4;
  out[tcp + 13] = seg.flags;
  put16(out, tcp + 14, 0); // window 0: nothing more is welcome
  put16(out, tcp + 16, 0);
  put16(out, tcp + 18, 0); // urgent pointer
  put16(out, tcp + 16, foldChecksum(sumWords(out, tcp, tcp + TCP_HEADER, pseudo)));
  return tcp + TCP_HEADER - o;
}
