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

/**
 * Parses an IPv6 address (RFC 4291 text forms, including "::" compression and an embedded dotted IPv4 tail)
 * into `out` (four words). Returns false when invalid. Zone ids ("%eth0") are rejected: they mean nothing on a mirror.
 */
export function parseIPv6(text: string, out: Uint32Array = new Uint32Array(4)): boolean {
  if (text.length < 2 || text.length > 45 || text.includes('%')) return false;
  const groups = new Array<number>(8).fill(0);
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const parseSide = (side: string, allowV4Tail: boolean): number[] | null => {
    if (side === '') return [];
    const items = side.split(':');
    const result: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (allowV4Tail && i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (v4 < 0) return null;
        result.push(v4 >>> 16, v4 & 0xffff);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
      result.push(parseInt(item, 16));
    }
    return result;
  };
  if (halves.length === 1) {
    const all = parseSide(text, true);
    if (!all || all.length !== 8) return false;
    for (let i = 0; i < 8; i++) groups[i] = all[i]!;
  } else {
    const head = parseSide(halves[0]!, false);
    const tail = parseSide(halves[1]!, true);
    if (!head || !tail || head.length + tail.length > 7) return false;
    for (let i = 0; i < head.length; i++) groups[i] = head[i]!;
    for (let i = 0; i < tail.length; i++) groups[8 - tail.length + i] = tail[i]!;
  }
  for (let w = 0; w < 4; w++) out[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0;
  return true;
}

/** Formats four words as RFC 5952 canonical text (lower case, longest zero run of 2+ groups compressed). */
export function formatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}
