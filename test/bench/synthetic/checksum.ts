/**
 * Internet checksum (RFC 1071) helpers. Sums are kept unfolded in a plain number (no overflow below 2^53) and
 * folded once at the end, so a checksum can be built from pieces: pseudo-header, header, payload.
 */

/** Adds the big-endian 16-bit words of b[start, end) to `sum`; an odd last byte counts as its high half. */
export function sumBytes(b: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  const evenEnd = end - ((end - start) & 1);
  for (; i < evenEnd; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  return sum;
}

/** Adds a 32-bit value as two 16-bit words (addresses, lengths in the IPv6 pseudo-header). */
export function sumU32(v: number, sum = 0): number {
  return sum + (v >>> 16) + (v & 0xffff);
}

/** Folds the carries and complements: the value to store in the checksum field. */
export function finishChecksum(sum: number): number {
  // A sum of up to 2^53 folds to 16 bits in at most four rounds.
  while (sum > 0xffff) sum = (sum % 65536) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/** Folded transport checksum, with 0 sent as 0xffff for UDP (0 means "no checksum" there, RFC 768). */
export function finishUdpChecksum(sum: number): number {
  const c = finishChecksum(sum);
  return c === 0 ? 0xffff : c;
}
