import { describe, expect, it } from 'vitest';
import { parseAction } from '../../src/intel/action.js';
import { MEMO_MAX_TEXT, PrepareMemo, prepareEntry, normaliseTags } from '../../src/intel/entry.js';
import { IndicatorError, IntelEntryError } from '../../src/intel/errors.js';
import { parseExpiry, parseTtlSeconds } from '../../src/intel/expiry.js';
import { prng, randInt } from './helpers.js';

const NOW = 1_700_000_000;

describe('expiry grammar', () => {
  it.each([
    [undefined, 0],
    [null, 0],
    ['', 0],
    ['never', 0],
    ['3600', NOW + 3600],
    [3600, NOW + 3600],
    ['90s', NOW + 90],
    ['15m', NOW + 900],
    ['2h', NOW + 7200],
    ['7d', NOW + 7 * 86400],
    ['2W', NOW + 14 * 86400],
    ['1767225600', 1767225600],
    [1767225600, 1767225600],
    ['2026-01-01T00:00:00Z', 1767225600],
    ['2026-01-01T00:00:00.999Z', 1767225600],
    ['2026-01-01T01:00:00+01:00', 1767225600],
    ['2026-01-01T01:00+0100', 1767225600],
    ['2026-01-01T00:00:00', 1767225600], // no offset = UTC, never local time
    ['2026-01-01 00:00', 1767225600],
    ['2026-01-01', 1767225600],
    ['1999-01-01T00:00:00Z', 915148800], // in the past: accepted, never matched
  ] as [unknown, number][])('%j -> %d', (input, expected) => {
    expect(parseExpiry(input, NOW)).toBe(expected);
  });

  it.each([
    ['0'], [0], ['0s'], ['-5'], [-5], [1.5], ['1.5h'], ['soon'], ['7 d'], ['2026-13-01'], ['2026-02-30T00:00:00Z'], ['2026-01-01T24:00:00Z'], ['2026-01-01T12:60Z'],
    ['9999999999999'], ['2200-01-01T00:00:00Z'], [Number.NaN], [Number.POSITIVE_INFINITY], [{}], [true], ['1e9'],
  ] as [unknown][])('%j is refused with a typed error', (input) => {
    expect(() => parseExpiry(input, NOW)).toThrow(IntelEntryError);
  });

  it('parses bare TTLs', () => {
    expect(parseTtlSeconds('90s')).toBe(90);
    expect(parseTtlSeconds('3600')).toBe(3600);
    expect(() => parseTtlSeconds('0')).toThrow(IntelEntryError);
    expect(() => parseTtlSeconds('x')).toThrow(IntelEntryError);
  });
});

describe('actions, tags and entries', () => {
  it('parses actions case-insensitively, defaulting when absent', () => {
    expect(parseAction(' Allow ')).toBe('allow');
    expect(parseAction(undefined)).toBe('block');
    expect(parseAction('', 'monitor')).toBe('monitor');
    expect(() => parseAction('drop')).toThrow(/block.*monitor.*allow/);
    expect(() => parseAction(3)).toThrow(IntelEntryError);
  });

  it('normalises tag lists and tag strings', () => {
    expect(normaliseTags('c2; botnet|c2 ;;')).toEqual(['botnet', 'c2']);
    expect(normaliseTags(['b', 'a', ' a '])).toEqual(['a', 'b']);
    expect(normaliseTags(undefined)).toEqual([]);
    expect(() => normaliseTags([1])).toThrow(IntelEntryError);
    expect(() => normaliseTags({})).toThrow(IntelEntryError);
    expect(() => normaliseTags(Array.from({ length: 65 }, (_, i) => `t${i}`))).toThrow(/at most 64/);
    expect(() => normaliseTags(['a\nb'])).toThrow(/control/);
  });

  it('prepares an entry: default id, explicit id, source and expiry', () => {
    const a = prepareEntry({ indicator: '198.18.0.5' }, { nowSeconds: NOW });
    expect(a).toMatchObject({ explicitId: null, action: 'block', actionCode: 2, expiresAt: 0, source: 'manual', reason: '', tags: [] });
    const b = prepareEntry({ indicator: '198.18.0.5/32', id: '198.18.0.5', source: 'feed', expires: '1h', action: 'monitor' }, { nowSeconds: NOW });
    expect(b).toMatchObject({ explicitId: null, source: 'feed', expiresAt: NOW + 3600, actionCode: 1 });
    const c = prepareEntry({ indicator: '198.18.0.5', id: 12345 }, { nowSeconds: NOW, defaultSource: 'f', defaultAction: 'allow' });
    expect(c).toMatchObject({ explicitId: '12345', source: 'f', action: 'allow' });
    // An id of spaces is no id (as an empty CSV field is), not the explicit id "".
    const d = prepareEntry({ indicator: '198.18.0.5', id: '   ' }, { nowSeconds: NOW });
    expect(d).toMatchObject({ explicitId: null });
    expect(prepareEntry({ indicator: '198.18.0.5', id: ' t-1 ' }, { nowSeconds: NOW })).toMatchObject({ explicitId: 't-1' });
  });

  it('refuses bad fields with the field named', () => {
    expect(() => prepareEntry({ indicator: '' }, { nowSeconds: NOW })).toThrow(/indicator: missing/);
    expect(() => prepareEntry({ indicator: 'x' }, { nowSeconds: NOW })).toThrow(IndicatorError);
    expect(() => prepareEntry({ indicator: '1.2.3.4', source: 's'.repeat(200) }, { nowSeconds: NOW })).toThrow(/source/);
    expect(() => prepareEntry({ indicator: '1.2.3.4', reason: 'a\u0000b' }, { nowSeconds: NOW })).toThrow(/reason/);
    expect(() => prepareEntry({ indicator: '1.2.3.4', id: { x: 1 } as unknown as string }, { nowSeconds: NOW })).toThrow(/id/);
    expect(() => prepareEntry(null as unknown as { indicator: string }, { nowSeconds: NOW })).toThrow(IntelEntryError);
  });
});

describe('text fields are valid Unicode', () => {
  it('refuses an unpaired surrogate in source, reason, id or a tag, naming the field; accepts astral characters', () => {
    const lone = 'feed\ud800x';
    for (const field of ['source', 'reason', 'id'] as const) {
      expect(() => prepareEntry({ indicator: '198.18.0.1', [field]: lone }, { nowSeconds: 0 })).toThrow(IntelEntryError);
      expect(() => prepareEntry({ indicator: '198.18.0.1', [field]: lone }, { nowSeconds: 0 })).toThrow(new RegExp(`^${field}: .*unpaired`));
    }
    expect(() => normaliseTags(['ok', 'x\udc00'])).toThrow(/tags: .*unpaired/);
    expect(prepareEntry({ indicator: '198.18.0.1', reason: 'phish 🎣', tags: ['🎣'] }, { nowSeconds: 0 }).reason).toBe('phish 🎣');
  });
});

describe('text checks against a reference', () => {
  // The checks as they were written before the one-pass scan: two regular expressions.
  // eslint-disable-next-line no-control-regex
  const refControl = /[\x00-\x1f\x7f]/;
  const refLone = /\p{Cs}/u;
  const reference = (t: string): string | null => (refControl.test(t) ? 'control' : refLone.test(t) ? 'unpaired' : null);
  const outcome = (t: string): string | null => {
    try {
      prepareEntry({ indicator: '198.18.0.1', reason: t }, { nowSeconds: 0 });
      return null;
    } catch (err) {
      return /control/.test((err as Error).message) ? 'control' : /unpaired/.test((err as Error).message) ? 'unpaired' : 'other';
    }
  };

  it('agrees with the regular expressions on the edge cases', () => {
    for (const t of ['a\tb', 'a\u007fb', 'x\ud800', '\udc00x', '\udc00\ud800', 'a\ud83c\udfa3b', '\ud83c\udfa3\ud800', 'ok', 'caf\u00e9', '\u2028']) {
      expect(outcome(t), JSON.stringify(t)).toBe(reference(t.trim()));
    }
  });

  it('agrees with the regular expressions on random strings of awkward characters', () => {
    const pool = ['a', ' ', '\t', '\u0000', '\u007f', '\u0080', '\ud800', '\udbff', '\udc00', '\udfff', '\ue000', '\uffff', 'é'];
    const rand = prng(7);
    for (let i = 0; i < 20_000; i++) {
      let t = '';
      const n = 1 + randInt(rand, 6);
      for (let k = 0; k < n; k++) t += pool[randInt(rand, pool.length)];
      expect(outcome(t), JSON.stringify(t)).toBe(reference(t.trim()));
    }
  });
});

describe('PrepareMemo (one load\'s repeated tag and expiry texts)', () => {
  const inputs = [
    { indicator: '198.18.0.1', tags: 'c2;botnet', expires: '7d' },
    { indicator: '198.18.0.2', tags: 'botnet|c2', expires: '7d' },
    { indicator: '198.18.0.3', tags: 'c2;botnet', expires: '2030-01-01T00:00:00Z' },
    { indicator: '198.18.0.4', tags: ['b', 'a'], expires: 3600 },
    { indicator: '198.18.0.5', tags: '', expires: 'never' },
    { indicator: '198.18.0.6', tags: 'c2;botnet', expires: '7d' },
    // A list is not split on ';' where the same text as one string is: the two must not share a memo entry.
    { indicator: '198.18.0.7', tags: ['a;b'] },
    { indicator: '198.18.0.8', tags: 'a;b' },
    { indicator: '198.18.0.9', tags: ['a;b'] },
    { indicator: '198.18.0.10', tags: ['x', 7] as unknown as string[] },
  ];

  it('gives the same entries as preparing without it', () => {
    const memo = new PrepareMemo(NOW);
    for (const input of inputs) {
      const plain = (): unknown => prepareEntry(input, { nowSeconds: NOW });
      let expected: unknown;
      try {
        expected = plain();
      } catch (err) {
        expect(() => prepareEntry(input, { nowSeconds: NOW, memo })).toThrow((err as Error).message);
        continue;
      }
      expect(prepareEntry(input, { nowSeconds: NOW, memo })).toEqual(expected);
    }
    expect(prepareEntry(inputs[6]!, { nowSeconds: NOW, memo }).tags).toEqual(['a;b']);
    expect(prepareEntry(inputs[7]!, { nowSeconds: NOW, memo }).tags).toEqual(['a', 'b']);
    expect([...memo.tags.keys()].sort()).toEqual(['', 'a;b', 'botnet|c2', 'c2;botnet']);
    expect([...memo.tagLists.keys()].sort()).toEqual(['a;b', 'b\u0000a']);
    expect(memo.expires.size).toBe(3);
  });

  it('hands out one frozen tag list per text, so no entry can change another\'s', () => {
    const memo = new PrepareMemo(NOW);
    const a = prepareEntry(inputs[0]!, { nowSeconds: NOW, memo });
    const b = prepareEntry(inputs[5]!, { nowSeconds: NOW, memo });
    expect(b.tags).toBe(a.tags);
    expect(Object.isFrozen(a.tags)).toBe(true);
  });

  it('remembers only texts that passed: a bad one fails on every line', () => {
    const memo = new PrepareMemo(NOW);
    for (let i = 0; i < 3; i++) {
      expect(() => prepareEntry({ indicator: '198.18.0.1', tags: 'ok;a\u0001b' }, { nowSeconds: NOW, memo })).toThrow(/control/);
      expect(() => prepareEntry({ indicator: '198.18.0.1', expires: 'yesterday' }, { nowSeconds: NOW, memo })).toThrow(/expires/);
    }
    expect(memo.tags.size).toBe(0);
    expect(memo.expires.size).toBe(0);
  });

  it('stops remembering at its limit, and still prepares every entry', () => {
    const memo = new PrepareMemo(NOW, 4);
    for (let i = 0; i < 10; i++) {
      const e = prepareEntry({ indicator: '198.18.0.1', tags: `t${i}`, expires: `${i + 1}h` }, { nowSeconds: NOW, memo });
      expect(e.tags).toEqual([`t${i}`]);
      expect(e.expiresAt).toBe(NOW + (i + 1) * 3600);
    }
    expect(memo.tags.size).toBe(4);
    expect(memo.expires.size).toBe(4);
  });

  it('keeps no text longer than MEMO_MAX_TEXT, and still prepares it', () => {
    const memo = new PrepareMemo(NOW);
    const long = `${'x;'.repeat(MEMO_MAX_TEXT / 2)}y`;
    const e = prepareEntry({ indicator: '198.18.0.1', tags: long, expires: `${' '.repeat(MEMO_MAX_TEXT)}7d` }, { nowSeconds: NOW, memo });
    expect(e.tags).toEqual(['x', 'y']);
    expect(e.expiresAt).toBe(NOW + 7 * 86400);
    expect(memo.tags.size).toBe(0);
    expect(memo.expires.size).toBe(0);
  });

  it('refuses to be used with another clock than its own (a TTL depends on it)', () => {
    const memo = new PrepareMemo(NOW);
    expect(() => prepareEntry(inputs[0]!, { nowSeconds: NOW + 1, memo })).toThrow(/nowSeconds/);
  });
});
