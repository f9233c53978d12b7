/**
 * Big-endian reads through the packet's DataView (DecodedPacket.view). Small enough for V8 to inline, where a
 * DataView read is one load (and a byte swap); bounds are checked by the callers.
 */
export function be16(v: DataView, o: number): number {
  return v.getUint16(o);
}

export function be32(v: DataView, o: number): number {
  return v.getUint32(o);
}
