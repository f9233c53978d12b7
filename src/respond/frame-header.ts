/** Byte writers and the link-layer header shared by every packet we craft. */

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

/** Number of tags in a session's VLAN value (outer << 12 | inner). */
export function vlanCountOf(vlan: number): number {
  return (vlan & 0xfff) !== 0 ? 2 : vlan !== 0 ? 1 : 0;
}
