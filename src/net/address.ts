/**
 * Address representation shared by every stage.
 *
 * The hot path never builds strings or objects for addresses:
 * - an IPv4 address is an unsigned 32-bit number (network order folded into a number, 198.18.0.1 = 0xC6120001);
 * - an IPv6 address is four unsigned 32-bit words, most significant first, usually kept in a Uint32Array(4)
 *   or as four numeric fields.
 * Strings exist only at the edges (CLI, files, API, logs), and this module converts between the two.
 */

/**
 * Parses dotted-quad IPv4 strictly (four parts, each 0..255, no leading zeros beyond "0"). Returns -1 when
 * invalid. A character scan, not split(): intel files hold millions of addresses.
 */
export function parseIPv4(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // a virtual '.' closes the last part
    if (c === 46) {
      if (digits === 0 || part > 255 || ++parts > 4) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return -1;
    if (digits === 1 && part === 0) return -1; // leading zero: "010" could be read as octal elsewhere
    part = part * 10 + d;
    if (++digits > 3) return -1;
  }
  return parts === 4 ? value >>> 0 : -1;
}

export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Scratch groups for parseIPv6Form and formatIPv6, so that neither allocates (neither is re-entrant). */
const GROUPS = new Int32Array(8);

/**
 * Parses an IPv6 address (RFC 4291 text forms, including "::" compression and an embedded dotted IPv4 tail)
 * into `out` (four words). Returns false when invalid. Zone ids ("%eth0") are rejected: they mean nothing on a mirror.
 */
export function parseIPv6(text: string, out: Uint32Array = new Uint32Array(4)): boolean {
  return parseIPv6Form(text, out) !== IPV6_INVALID;
}

export const IPV6_INVALID = -1;
export const IPV6_VALID = 0;
/** Valid, and already the RFC 5952 text formatIPv6 would give: a caller may keep the text as it is. */
export const IPV6_CANONICAL = 1;

/**
 * parseIPv6, also saying whether the text is canonical. One pass over the characters: splitting into arrays and a
 * regular expression per group cost 1.2 s of a 1 M-line IPv6 intel load, and formatting the canonical text again
 * 0.2 s.
 */
export function parseIPv6Form(text: string, out: Uint32Array): number {
  const n = text.length;
  if (n < 2 || n > 45) return IPV6_INVALID;
  const g = GROUPS;
  let count = 0;
  /** Number of groups before the "::", or -1. */
  let gap = -1;
  /** Upper-case digits, a group with a leading zero or a dotted tail: not how formatIPv6 writes. */
  let unusual = false;
  let i = 0;
  if (text.charCodeAt(0) === 58 /* : */) {
    if (text.charCodeAt(1) !== 58) return IPV6_INVALID;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) {
        d = c - 55;
        unusual = true;
      } else break;
      value = value * 16 + d;
    }
    if (i < n && text.charCodeAt(i) === 46 /* . */) {
      // A dotted IPv4 tail: the rest of the text, in place of the last two groups.
      if (count > 6) return IPV6_INVALID;
      const v4 = parseIPv4(text.slice(start));
      if (v4 < 0) return IPV6_INVALID;
      g[count++] = v4 >>> 16;
      g[count++] = v4 & 0xffff;
      unusual = true;
      break;
    }
    if (i === start || i - start > 4 || count === 8) return IPV6_INVALID;
    if (i - start > 1 && text.charCodeAt(start) === 48 /* 0 */) unusual = true;
    g[count++] = value;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58 || ++i === n) return IPV6_INVALID; // another character, or a lone ':' at the end
    if (text.charCodeAt(i) === 58) {
      if (gap >= 0) return IPV6_INVALID;
      gap = count;
      i++;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return IPV6_INVALID;
  const zeros = 8 - count;
  for (let w = 0; w < 4; w++) {
    const k = 2 * w;
    out[w] = ((group(g, k, gap, zeros) << 16) | group(g, k + 1, gap, zeros)) >>> 0;
  }
  if (unusual) return IPV6_VALID;
  // Canonical when the "::" (if any) stands exactly for the run formatIPv6 would compress.
  const run = longestZeroRun(out[0]!, out[1]!, out[2]!, out[3]!);
  const canonical = gap < 0 ? run < 0 : run >= 0 && run >>> 4 === gap && (run & 15) === zeros;
  return canonical ? IPV6_CANONICAL : IPV6_VALID;
}

/** Group `k` of eight, with `zeros` groups of zeros inserted at `gap` (-1: none). */
function group(g: Int32Array, k: number, gap: number, zeros: number): number {
  if (gap < 0 || k < gap) return g[k]!;
  return k < gap + zeros ? 0 : g[k - zeros]!;
}

/**
 * The first longest run of two or more zero groups in the address, as start * 16 + length, or -1 (RFC 5952: the
 * run that "::" stands for). Leaves the eight groups in GROUPS.
 */
function longestZeroRun(w0: number, w1: number, w2: number, w3: number): number {
  const g = GROUPS;
  g[0] = w0 >>> 16;
  g[1] = w0 & 0xffff;
  g[2] = w1 >>> 16;
  g[3] = w1 & 0xffff;
  g[4] = w2 >>> 16;
  g[5] = w2 & 0xffff;
  g[6] = w3 >>> 16;
  g[7] = w3 & 0xffff;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  return best < 0 ? -1 : best * 16 + bestLen;
}

/** Formats four words as RFC 5952 canonical text (lower case, longest zero run of 2+ groups compressed). */
export function formatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  const run = longestZeroRun(w0, w1, w2, w3);
  const g = GROUPS;
  const runStart = run < 0 ? -1 : run >>> 4;
  const runEnd = run < 0 ? -1 : runStart + (run & 15);
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === runStart) {
      text += '::';
      i = runEnd - 1;
      continue;
    }
    if (text.length > 0 && i !== runEnd) text += ':';
    text += g[i]!.toString(16);
  }
  return text;
}
