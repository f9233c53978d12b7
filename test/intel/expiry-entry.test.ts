import { describe, expect, it } from 'vitest';
import { parseAction } from '../../src/intel/action.js';
import { prepareEntry, normaliseTags } from '../../src/intel/entry.js';
import { IndicatorError, IntelEntryError } from '../../src/intel/errors.js';
import { parseExpiry, parseTtlSeconds } from '../../src/intel/expiry.js';

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
