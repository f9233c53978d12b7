import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { isOverBroad, overBroadReason } from '../../src/intel/breadth.js';
import { splitCsvLine } from '../../src/intel/csv.js';
import { IntelFileError } from '../../src/intel/errors.js';
import { parseIndicator } from '../../src/intel/indicator.js';
import { detectIntelFormat, loadIntelFile, loadIntelStream } from '../../src/intel/intel-file.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { readLines } from '../../src/intel/line-reader.js';
import { prng, randInt } from './helpers.js';

const NOW = 1_700_000_000;
const dir = mkdtempSync(join(tmpdir(), 'offpath-intel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function newSet(): IntelSet {
  return new IntelSet({ clock: () => NOW });
}

/** Splits content into random small chunks (cutting through lines and multi-byte characters). */
function chunked(content: string, seed: number): Readable {
  const bytes = Buffer.from(content, 'utf8');
  const rand = prng(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + randInt(rand, 7);
    parts.push(bytes.subarray(i, i + n));
    i += n;
  }
  return Readable.from(parts);
}

describe('plain list files', () => {
  it('loads indicators, skips comments and blank lines, reports bad lines by number', async () => {
    const set = newSet();
    const path = file('plain.txt', [
      '# DROP-style list', // 1
      '', // 2
      '198.18.0.5', // 3
      '  10.20.0.0/16   # trailing comment', // 4
      '1.10.16.0/20 ; SBL256894', // 5
      'not an indicator!', // 6
      '2001:db8::/32', // 7
      '198.18.0.5:443/tcp', // 8
      'evil.example.com', // 9
      '300.1.1.1', // 10
      '\t', // 11
      '8.8.8.0/8', // 12 host bits
      '198.18.0.6\r', // 13 CRLF
    ].join('\n'));
    const stats = await loadIntelFile(path, set, { nowSeconds: NOW });
    expect(stats.format).toBe('plain');
    expect(stats.lines).toBe(13);
    expect(stats.loaded).toBe(7);
    expect(stats.skipped).toBe(3);
    expect(stats.errors.map((e) => e.line)).toEqual([6, 10, 12]);
    expect(stats.errors[0]!.code).toBe('intel_indicator');
    expect(stats.errors[2]!.message).toContain('host bits');
    expect(stats.byKind).toEqual({ ipv4: 2, ipv6: 0, cidr4: 2, cidr6: 1, 'ip-port': 1, domain: 1 });
    expect(stats.byAction).toEqual({ block: 7, monitor: 0, allow: 0 });
    expect(set.size).toBe(7);
    const h = set.matchV4(parseIndicator('10.20.3.4').v4);
    expect(set.sourceOf(h)).toBe('plain.txt');
    expect(set.actionOf(h)).toBe('block');
  });

  it('uses the default action and source given', async () => {
    const set = newSet();
    const stats = await loadIntelStream(Readable.from(['10.0.0.0/16\n10.1.0.0/16\n']), set, { defaultAction: 'allow', source: 'assets', nowSeconds: NOW });
    expect(stats.byAction.allow).toBe(2);
    expect(set.sourceOf(set.matchV4(parseIndicator('10.1.2.3').v4))).toBe('assets');
  });

  it('gives the same result whatever the chunking (lines and UTF-8 split across reads)', async () => {
    const content = '# caf\u00e9 list \u2014 comment\n198.18.0.5\nbücher.example\n10.0.0.0/24\nexample.org';
    for (let seed = 1; seed <= 20; seed++) {
      const set = newSet();
      const stats = await loadIntelStream(chunked(content, seed), set, { nowSeconds: NOW });
      expect(stats.loaded).toBe(3);
      expect(stats.errors).toEqual([expect.objectContaining({ line: 3, code: 'intel_indicator' })]);
      expect(stats.lines).toBe(5);
    }
  });
});

describe('CSV files', () => {
  it('loads with a header, quoted fields, tag separators, and reports bad lines', async () => {
    const set = newSet();
    const path = file('feed.csv', [
      'indicator,action,expires,source,reason,tags', // 1
      '198.18.0.5,block,1h,feedX,"c2, stage 2",c2;botnet', // 2
      '10.0.0.0/8,allow,,assets,"protected ""core"" range",core|bank', // 3
      '198.18.0.6,explode,,feedX,,', // 4 bad action
      '198.18.0.7,monitor,yesterday,feedX,,', // 5 bad expiry
      '# a comment', // 6
      '198.18.0.8,block,,feedX,"unterminated', // 7
      '198.18.0.9,block,,feedX,r,t,extra', // 8 too many fields
      '[2001:db8::1]:53/udp,monitor,2030-01-01T00:00:00Z,feedY,dns,', // 9
      '198.18.0.10', // 10 fewer fields: fine
      '198.18.0.11,block,1999-01-01,feedX,,', // 11 already expired
    ].join('\n'));
    const stats = await loadIntelFile(path, set, { nowSeconds: NOW });
    expect(stats.format).toBe('csv');
    expect(stats.errors.map((e) => [e.line, e.code])).toEqual([[4, 'intel_entry'], [5, 'intel_entry'], [7, 'intel_entry'], [8, 'intel_entry']]);
    expect(stats.errors[0]!.message).toContain('explode');
    expect(stats.loaded).toBe(4);
    expect(stats.expired).toBe(1);
    expect(stats.skipped).toBe(4);
    const h = set.matchV4(parseIndicator('198.18.0.5').v4);
    expect(set.entry(h)).toMatchObject({ source: 'feedX', reason: 'c2, stage 2', tags: ['botnet', 'c2'], expiresAt: NOW + 3600, action: 'block' });
    const a = set.matchV4(parseIndicator('10.9.9.9').v4);
    expect(set.entry(a)).toMatchObject({ action: 'allow', reason: 'protected "core" range', tags: ['bank', 'core'] });
    expect(set.sourceOf(set.matchV4(parseIndicator('198.18.0.10').v4))).toBe('feed.csv');
  });

  it('reports a bad field on every line that repeats it, and shares nothing between entries', async () => {
    const set = newSet();
    const lines = ['indicator,expires,tags'];
    for (let i = 1; i <= 6; i++) lines.push(`198.18.1.${i},${i % 2 ? '7d' : 'soon'},${i % 3 ? 'c2;botnet' : 'bad\u0001tag'}`);
    const stats = await loadIntelFile(file('repeats.csv', lines.join('\n')), set, { nowSeconds: NOW });
    // Lines 3, 5, 7 have 'soon'; line 4 (i = 3) has the bad tag; line 7 (i = 6) has both.
    expect(stats.errors.map((e) => e.line)).toEqual([3, 4, 5, 7]);
    expect(stats.loaded).toBe(2);
    const one = set.entry(set.matchV4(parseIndicator('198.18.1.1').v4));
    const five = set.entry(set.matchV4(parseIndicator('198.18.1.5').v4));
    expect(one).toMatchObject({ tags: ['botnet', 'c2'], expiresAt: NOW + 7 * 86400 });
    expect(five).toMatchObject({ tags: ['botnet', 'c2'], expiresAt: NOW + 7 * 86400 });
  });

  it('accepts columns in any order, with an id column', async () => {
    const set = newSet();
    const stats = await loadIntelStream(Readable.from(['id,indicator,action\nA-1,198.18.0.5,monitor\nA-2,198.18.0.6,\n']), set, { source: 'f', nowSeconds: NOW });
    expect(stats.loaded).toBe(2);
    expect(set.find('f', 'A-1')).toBeGreaterThanOrEqual(0);
    expect(set.actionOf(set.find('f', 'A-2'))).toBe('block');
  });

  it('refuses an unusable header as a whole-file error', async () => {
    await expect(loadIntelStream(Readable.from(['indicator,expiry\n1.2.3.4,1h\n']), newSet(), { format: 'csv' })).rejects.toThrow(IntelFileError);
    await expect(loadIntelStream(Readable.from(['1.2.3.4,block\n']), newSet(), { format: 'csv' })).rejects.toThrow(/unknown CSV column/);
    await expect(loadIntelStream(Readable.from(['action,reason\n']), newSet(), { format: 'csv' })).rejects.toThrow(/no indicator column/);
    await expect(loadIntelStream(Readable.from(['indicator,indicator\n']), newSet(), { format: 'csv' })).rejects.toThrow(/twice/);
  });

  it('splits CSV lines per RFC 4180 within a line', () => {
    expect(splitCsvLine('a,b,c')).toEqual(['a', 'b', 'c']);
    expect(splitCsvLine(' a , "b,c" ,"d""e"')).toEqual(['a', 'b,c', 'd"e']);
    expect(splitCsvLine('a,,')).toEqual(['a', '', '']);
    expect(splitCsvLine('""')).toEqual(['']);
    expect(typeof splitCsvLine('"abc')).toBe('string');
    expect(typeof splitCsvLine('"a"b')).toBe('string');
    expect(typeof splitCsvLine('a"b')).toBe('string');
  });
});

describe('JSON lines files', () => {
  it('loads objects, ignores unknown fields, reports bad lines', async () => {
    const set = newSet();
    const path = file('feed.jsonl', [
      '{"indicator":"198.18.0.5","action":"block","expires":3600,"source":"s","reason":"r","tags":["a","b"],"first_seen":"x"}', // 1
      '{"indicator":"198.18.0.6","tags":"x;y"}', // 2
      '{"indicator":"198.18.0.7"', // 3 bad JSON
      '[1,2,3]', // 4 not an object
      '{"indicator":42}', // 5
      '{"action":"block"}', // 6
      '', // 7
      '{"indicator":"example.com","action":"monitor","expires":1767225600,"id":7}', // 8
      '{"indicator":"198.18.0.9","reason":{"nested":true}}', // 9
    ].join('\n'));
    const stats = await loadIntelFile(path, set, { nowSeconds: NOW });
    expect(stats.format).toBe('jsonl');
    expect(stats.loaded).toBe(3);
    expect(stats.errors.map((e) => e.line)).toEqual([3, 4, 5, 6, 9]);
    expect(stats.errors[0]!.message).toContain('not valid JSON');
    expect(stats.errors[3]!.message).toContain('missing');
    const h = set.matchV4(parseIndicator('198.18.0.5').v4);
    expect(set.entry(h)).toMatchObject({ tags: ['a', 'b'], expiresAt: NOW + 3600, source: 's' });
    expect(set.tagsOf(set.matchV4(parseIndicator('198.18.0.6').v4))).toEqual(['x', 'y']);
    expect(set.idOf(set.matchDomain('example.com'))).toBe('7');
  });
});

describe('format detection, limits and guards', () => {
  it('detects formats from the first significant line', () => {
    expect(detectIntelFormat('{"indicator":"1.2.3.4"}')).toBe('jsonl');
    expect(detectIntelFormat('Indicator, Action')).toBe('csv');
    expect(detectIntelFormat('1.2.3.4')).toBe('plain');
    expect(detectIntelFormat('1.2.3.4,block')).toBe('plain');
  });

  it('caps the error list in memory but counts every bad line', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? 'garbage!' : `10.0.${i >> 8}.${i & 255}`));
    const stats = await loadIntelStream(Readable.from([lines.join('\n')]), newSet(), { maxErrors: 100, nowSeconds: NOW });
    expect(stats.skipped).toBe(2500);
    expect(stats.errors.length).toBe(100);
    expect(stats.errorsNotKept).toBe(2400);
    expect(stats.loaded).toBe(2500);
    expect(stats.errors[99]!.line).toBe(199);
  });

  it('pre-sizes the set from the file size after a sample, and every entry still loads and matches', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 20000; i++) lines.push(i % 4 === 3 ? `10.${i >> 8 & 255}.${i & 255}.0/24` : `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    const path = file('big.txt', `${lines.join('\n')}\n`);
    const set = newSet();
    const stats = await loadIntelFile(path, set, { nowSeconds: NOW });
    expect(stats.loaded).toBe(20000);
    expect(set.size).toBe(20000);
    for (let i = 0; i < 20000; i += 7) {
      const text = lines[i]!;
      const probe = parseIndicator(text.replace('.0/24', '.9')).v4;
      expect(set.indicatorOf(set.matchV4(probe))).toBe(text);
    }
  });

  it('skips an overlong line without buffering it, and goes on', async () => {
    const huge = 'a'.repeat(300_000);
    const stats = await loadIntelStream(chunked(`198.18.0.5\n${huge}\n198.18.0.6\n${huge}`, 3), newSet(), { maxLineLength: 1000, nowSeconds: NOW });
    expect(stats.loaded).toBe(2);
    expect(stats.errors.map((e) => e.line)).toEqual([2, 4]);
    expect(stats.errors[0]!.message).toContain('longer than 1000');
    expect(stats.lines).toBe(4);
  });

  it('refuses over-broad blocks unless forced; allows and monitors pass', async () => {
    const content = '0.0.0.0/0\n10.0.0.0/8\n10.0.0.0/16\n2001::/16\n2001:db8::/32\n';
    const refused = await loadIntelStream(Readable.from([content]), newSet(), { nowSeconds: NOW });
    expect(refused.loaded).toBe(2);
    expect(refused.errors.map((e) => e.line)).toEqual([1, 2, 4]);
    expect(refused.errors[1]!.message).toContain('over-broad');
    const forced = await loadIntelStream(Readable.from([content]), newSet(), { allowOverBroad: true, nowSeconds: NOW });
    expect(forced.loaded).toBe(5);
    const allowed = await loadIntelStream(Readable.from([content]), newSet(), { defaultAction: 'allow', nowSeconds: NOW });
    expect(allowed.loaded).toBe(5);
    const masked = await loadIntelStream(Readable.from(['10.1.2.3/16\n']), newSet(), { hostBits: 'mask', nowSeconds: NOW });
    expect(masked.loaded).toBe(1);
  });

  it('breadth policy is a pure function with documented defaults', () => {
    expect(isOverBroad(parseIndicator('10.0.0.0/15'), 'block')).toBe(true);
    expect(isOverBroad(parseIndicator('10.0.0.0/16'), 'block')).toBe(false);
    expect(isOverBroad(parseIndicator('10.0.0.0/8'), 'allow')).toBe(false);
    expect(isOverBroad(parseIndicator('10.0.0.0/8'), 'monitor')).toBe(false);
    expect(isOverBroad(parseIndicator('2001::/31'), 'block')).toBe(true);
    expect(isOverBroad(parseIndicator('2001:db8::/32'), 'block')).toBe(false);
    expect(isOverBroad(parseIndicator('1.2.3.4'), 'block')).toBe(false);
    expect(isOverBroad(parseIndicator('10.0.0.0/20'), 'monitor', { minPrefixV4: 24, minPrefixV6: 48, actions: ['block', 'monitor'] })).toBe(true);
    expect(overBroadReason(parseIndicator('10.0.0.0/8'), 'block')).toContain('16,777,216 addresses');
  });

  it('reports an unreadable file as a typed error', async () => {
    await expect(loadIntelFile(join(dir, 'missing.txt'), newSet())).rejects.toThrow(IntelFileError);
    await expect(loadIntelFile(dir, newSet())).rejects.toThrow(IntelFileError);
  });

  it('reads lines: numbering, CR, BOM, no trailing newline', async () => {
    const got: [number, string][] = [];
    const n = await readLines(Readable.from([Buffer.from('\ufeffa\r\n\nb\nc')]), { line: (t, i) => got.push([i, t]), overlong: () => {} });
    expect(n).toBe(4);
    expect(got).toEqual([[1, 'a'], [2, ''], [3, 'b'], [4, 'c']]);
  });
});
