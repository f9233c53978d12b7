/** Internet checksum (RFC 1071) helpers over a Uint8Array, for the packets we craft. */

/** One's-complement sum of 16-bit big-endian words in d[start, end), added to `sum` (not folded). */
export function sumWords(d: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (d[i]! << 8) | d[i + 1]!;
  if (i < end) sum += d[i]! << 8;
  return sum;
}

export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

export function sumWord32(w: number): number {
  return (w >>> 16) + (w & 0xffff);
}
