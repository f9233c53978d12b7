/** Byte writers and the link and IP headers shared by every packet we craft. */
import { foldChecksum, sumWord32, sumWords } from './checksum.js';

export function put16(d: Uint8Array, o: number, v: number): number {
  d[o] = (v >>> 8) & 0xff;
  d[o + 1] = v & 0xff;
  return o + 2;
}

export function put32(d: Uint8Array, o: number, v: number): void {
  d[o] = (v >>> 24) & 0xff;
  d[o + 1] = (v >>> 16) & 0xff;
  d[o + 2] = (v >>> 8) & 0xff;
  d[o + 3] = v & 0xff;
}

/**
 * Writes an Ethernet header at 0 with the VLAN tags of the side being reached (802.1ad outside 802.1Q when
 * there are two; `vlan` is outer << 12 | inner) and returns the offset of the payload.
 */
export function writeEthernetHeader(
  out: Uint8Array, dstMac: Uint8Array, dstMacOffset: number, srcMac: Uint8Array, srcMacOffset: number,
  vlan: number, vlanCount: number, etherType: number,
): number {
  for (let i = 0; i < 6; i++) {
    out[i] = dstMac[dstMacOffset + i]!;
    out[6 + i] = srcMac[srcMacOffset + i]!;
  }
  let o = 12;
  if (vlanCount >= 2) {
    o = put16(out, o, 0x88a8);
    o = put16(out, o, vlan >>> 12);
    o = put16(out, o, 0x8100);
    o = put16(out, o, vlan & 0xfff);
  } else if (vlanCount === 1) {
    o = put16(out, o, 0x8100);
    o = put16(out, o, vlan >>> 12);
  }
  return put16(out, o, etherType);
}

/** Source and destination address words (engine convention: IPv4 mapped, its address in word 3). */
export interface AddressWords {
  src0: number;
  src1: number;
  src2: number;
  src3: number;
  dst0: number;
  dst1: number;
  dst2: number;
  dst3: number;
}

/**
 * Writes an IPv4 header (id 0, with its checksum) or an IPv6 header at `o` for `payloadLength` bytes of
 * protocol `proto`, and returns the one's-complement sum of the L4 pseudo-header (addresses, protocol,
 * length) for the caller's checksum. The header is 20 bytes (IPv4) or 40 (IPv6).
 */
export function writeIpHeader(out: Uint8Array, o: number, ipVersion: number, proto: number, ttl: number, payloadLength: number, a: AddressWords, dontFragment: boolean): number {
  if (ipVersion === 4) {
    out[o] = 0x45;
    out[o + 1] = 0;
    put16(out, o + 2, 20 + payloadLength);
    put16(out, o + 4, 0);
    put16(out, o + 6, dontFragment ? 0x4000 : 0);
    out[o + 8] = ttl;
    out[o + 9] = proto;
    put16(out, o + 10, 0);
    put32(out, o + 12, a.src3);
    put32(out, o + 16, a.dst3);
    put16(out, o + 10, foldChecksum(sumWords(out, o, o + 20)));
    return sumWord32(a.src3) + sumWord32(a.dst3) + proto + payloadLength;
  }
  out[o] = 0x60;
  out[o + 1] = 0;
  out[o + 2] = 0;
  out[o + 3] = 0;
  put16(out, o + 4, payloadLength);
  out[o + 6] = proto;
  out[o + 7] = ttl;
  put32(out, o + 8, a.src0);
  put32(out, o + 12, a.src1);
  put32(out, o + 16, a.src2);
  put32(out, o + 20, a.src3);
  put32(out, o + 24, a.dst0);
  put32(out, o + 28, a.dst1);
  put32(out, o + 32, a.dst2);
  put32(out, o + 36, a.dst3);
  return (
    sumWord32(a.src0) + sumWord32(a.src1) + sumWord32(a.src2) + sumWord32(a.src3) +
    sumWord32(a.dst0) + sumWord32(a.dst1) + sumWord32(a.dst2) + sumWord32(a.dst3) + proto + payloadLength
  );
}

/** Number of tags in a session's VLAN value (outer << 12 | inner). */
export function vlanCountOf(vlan: number): number {
  return (vlan & 0xfff) !== 0 ? 2 : vlan !== 0 ? 1 : 0;
}
