import { describe, expect, it } from 'vitest';
import { formatIPv6, IPV6_CANONICAL, IPV6_INVALID, parseIPv4, parseIPv6, parseIPv6Form } from '../../src/net/address.js';
import { prng, randInt } from '../intel/helpers.js';

// The parser before the one-pass one (split, a regular expression per group, arrays): the reference.
/**
 * Parses an IPv6 address (RFC 4291 text forms, including "::" compression and an embedded dotted IPv4 tail)
 * into `out` (four words). Returns false when invalid. Zone ids ("%eth0") are rejected: they mean nothing on a mirror.
 */
function referenceParseIPv6(text: string, out: Uint32Array = new Uint32Array(4)): boolean {
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

/**
 * RFC 5952 text written independently of the code under test: lower-case groups, and the first of the longest runs
 * of two or more zero groups, found by a regular expression over a string with one letter per group, as "::".
 */
function referenceFormatIPv6(w0: number, w1: number, w2: number, w3: number): string {
  const hex = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff].map((x) => x.toString(16));
  const shape = hex.map((x) => (x === '0' ? 'z' : 'g')).join('');
  let run: RegExpMatchArray | null = null;
  for (const m of shape.matchAll(/z{2,}/g)) if (run === null || m[0].length > run[0].length) run = m;
  if (run === null) return hex.join(':');
  return `${hex.slice(0, run.index).join(':')}::${hex.slice(run.index! + run[0].length).join(':')}`;
}

function randomWord(rand: () => number): number {
  // Many zero groups, so that "::" runs of every length and position occur.
  const group = (): number => (rand() < 0.45 ? 0 : rand() < 0.5 ? randInt(rand, 16) : randInt(rand, 65536));
  return ((group() << 16) | group()) >>> 0;
}

/** Text of random shape: mostly near-valid addresses, some damaged, some noise. */
function randomText(rand: () => number): string {
  const w = [randomWord(rand), randomWord(rand), randomWord(rand), randomWord(rand)];
  let text = referenceFormatIPv6(w[0]!, w[1]!, w[2]!, w[3]!);
  const r = rand();
  if (r < 0.1) text = text.toUpperCase();
  else if (r < 0.2) text = text.replace(/[0-9a-f]+$/, `${randInt(rand, 256)}.${randInt(rand, 300)}.${randInt(rand, 256)}.${randInt(rand, 256)}`);
  else if (r < 0.25) text = text.split(':').map((g) => (g === '' ? g : g.padStart(4, '0'))).join(':');
  const damage = randInt(rand, 4);
  for (let k = 0; k < damage; k++) {
    const at = randInt(rand, text.length + 1);
    const c = '0123456789abcdefABCDEFg:.%: ::'[randInt(rand, 30)]!;
    text = rand() < 0.5 ? text.slice(0, at) + c + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
  }
  if (rand() < 0.05) text = Array.from({ length: randInt(rand, 47) }, () => '0123456789abcdef:.'[randInt(rand, 18)]).join('');
  return text;
}

describe('IPv6 text (one-pass parser and formatter)', () => {
  it('parses every text exactly as the reference does, valid or not (fuzz)', () => {
    const rand = prng(20261124);
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    let valid = 0;
    let canonicals = 0;
    for (let i = 0; i < 100_000; i++) {
      const text = randomText(rand);
      a.fill(7);
      b.fill(7);
      const ok = parseIPv6(text, a);
      expect(ok, text).toBe(referenceParseIPv6(text, b));
      if (ok) {
        valid++;
        expect([...a], text).toEqual([...b]);
      }
      // Canonical exactly when the text is what formatting the address gives.
      const form = parseIPv6Form(text, a);
      const canonical = ok && referenceFormatIPv6(b[0]!, b[1]!, b[2]!, b[3]!) === text;
      expect(form, text).toBe(ok ? (canonical ? IPV6_CANONICAL : 0) : IPV6_INVALID);
      if (canonical) canonicals++;
    }
    expect(valid).toBeGreaterThan(25_000);
    expect(canonicals).toBeGreaterThan(10_000);
    expect(valid - canonicals).toBeGreaterThan(10_000);
    expect(valid).toBeLessThan(95_000);
  }, 60_000);

  it('formats every address as the reference does, and the text parses back to it', () => {
    const rand = prng(5952);
    const w = new Uint32Array(4);
    for (let i = 0; i < 100_000; i++) {
      const a = [randomWord(rand), randomWord(rand), randomWord(rand), randomWord(rand)] as const;
      const text = formatIPv6(...a);
      expect(text).toBe(referenceFormatIPv6(...a));
      expect(parseIPv6(text, w)).toBe(true);
      expect([...w]).toEqual([...a]);
    }
  }, 60_000);

  it('reads the RFC 4291 forms and refuses the rest', () => {
    const words = (t: string): number[] | null => {
      const w = new Uint32Array(4);
      return parseIPv6(t, w) ? [...w] : null;
    };
    expect(words('::')).toEqual([0, 0, 0, 0]);
    expect(words('::1')).toEqual([0, 0, 0, 1]);
    expect(words('1::')).toEqual([0x10000, 0, 0, 0]);
    expect(words('2001:DB8::8:800:200C:417A')).toEqual([0x20010db8, 0, 0x80800, 0x200c417a]);
    expect(words('::ffff:198.18.0.1')).toEqual([0, 0, 0xffff, parseIPv4('198.18.0.1')]);
    expect(words('1:2:3:4:5:6:198.18.0.1')).toEqual([0x10002, 0x30004, 0x50006, parseIPv4('198.18.0.1')]);
    expect(words('1:2:3:4:5:6:7::')).toEqual([0x10002, 0x30004, 0x50006, 0x70000]);
    for (const bad of ['', ':', ':::', '1:::2', '1::2::3', ':1::', '1:2:3:4:5:6:7:', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8',
      '12345::', 'fe80::1%eth0', ' ::1', '::1 ', '1.2.3.4', '1.2.3.4::', '::1.2.3', '::256.1.1.1', '1:2:3:4:5:6:7:1.2.3.4', 'g::']) {
      expect(words(bad), bad).toBeNull();
    }
    expect(formatIPv6(0, 0, 0, 0)).toBe('::');
    expect(formatIPv6(0x20010db8, 0, 1, 1)).toBe('2001:db8::1:0:1'); // the longest run
    expect(formatIPv6(0x10000, 1, 0, 0x10001)).toBe('1::1:0:0:1:1'); // the first of two equal runs
    expect(formatIPv6(0x20010db8, 0x10000, 0x10001, 0x10001)).toBe('2001:db8:1:0:1:1:1:1'); // a single zero stays
  });
});
