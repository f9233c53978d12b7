import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIntelFile, loadIntelStream, type IntelLoadStats } from '../../src/intel/intel-file.js';
import { detachString } from '../../src/intel/interner.js';
import type { PreparedParts } from '../../src/intel/entry.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { LineRestMemo } from '../../src/intel/line-rest-memo.js';
import { pick, prng, randInt } from './helpers.js';

const NOW = 1_700_000_000;
const dir = mkdtempSync(join(tmpdir(), 'offpath-rest-memo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A line's fields after the indicator. */
interface Tail {
  action?: string;
  expires?: string;
  source?: string;
  reason?: string;
  tags?: string | string[];
  id?: string;
}

const INDICATORS = [
  '198.18.0.7', '198.18.0.8', '198.19.3.4', '198.18.0.0/24', '2001:db8::7', '2001:db8:1::/48', '198.18.0.7:443/tcp',
  '[2001:db8::7]:53/udp', 'evil.example.com',
  // bad or refused ones: the memo must still report them, for their indicator
  '', '999.1.1.1', 'x y', '198.18.0.1/16', '10.0.0.0/4',
];

const TAILS: Tail[] = [
  { action: 'block', expires: '7d', source: 'feed-a', reason: 'botnet C2', tags: ['c2', 'tier-1'] },
  { action: 'monitor', source: 'feed-b', tags: 'scan;noise' },
  { action: 'allow', source: 'assets', reason: 'protected' },
  { source: 'feed-a', id: '198.18.0.7' }, // an id that equals one indicator's text: explicit for every other one
  { source: 'feed-a', id: 'ticket-42' },
  { action: 'explode', source: 'feed-a' }, // bad action
  { expires: 'soon', source: 'feed-a' }, // bad expiry
  { expires: '2001-01-01T00:00:00Z', source: 'feed-c' }, // already expired
  { source: 'feed-\u0001' }, // control character
  { tags: ['b', 'a', 'a'] }, // normalised: sorted, de-duplicated
  {},
];

const CSV_HEADER = 'indicator,action,expires,source,reason,tags,id';

function csvLine(indicator: string, t: Tail, quoteIndicator: boolean): string {
  const tags = Array.isArray(t.tags) ? t.tags.join(';') : (t.tags ?? '');
  const first = quoteIndicator ? `"${indicator}"` : indicator;
  return [first, t.action ?? '', t.expires ?? '', t.source ?? '', t.reason ?? '', tags, t.id ?? ''].join(',');
}

function jsonLine(indicator: string, t: Tail, leadingSpace: boolean): string {
  const fields: string[] = [`"indicator":${JSON.stringify(indicator)}`];
  for (const key of ['action', 'expires', 'source', 'reason', 'tags', 'id'] as const) {
    if (t[key] !== undefined) fields.push(`"${key}":${JSON.stringify(t[key])}`);
  }
  return `${leadingSpace ? ' ' : ''}{${fields.join(',')}}`;
}

async function load(name: string, lines: string[]): Promise<{ stats: IntelLoadStats; entries: unknown[] }> {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n'));
  const set = new IntelSet({ clock: () => NOW });
  // One default source for both files, so that entries without a source compare equal.
  const stats = await loadIntelFile(path, set, { nowSeconds: NOW, source: 'the-file' });
  const entries = [...set.entries()].map((e) => ({ ...e, handle: undefined })).sort((a, b) => (`${a.source} ${a.id}` < `${b.source} ${b.id}` ? -1 : 1));
  return { stats, entries };
}

/** What a load reports, without the file's name and its timing. */
function outcome(r: { stats: IntelLoadStats; entries: unknown[] }): unknown {
  const { name: _name, durationMs: _ms, ...stats } = r.stats;
  return { stats, entries: r.entries };
}

/**
 * Loads the lines written so that tails can be reused and so that none can, checks that both give the same entries,
 * counts and errors, with many loaded and many refused lines among them, and returns the first load.
 */
async function sameAsWithoutReuse(name: string, write: (reuse: boolean) => string[]): Promise<{ stats: IntelLoadStats; entries: unknown[] }> {
  const reused = await load(name, write(true));
  const fresh = await load(`fresh-${name}`, write(false));
  expect(outcome(reused)).toEqual(outcome(fresh));
  expect(reused.stats.loaded).toBeGreaterThan(1000);
  expect(reused.stats.skipped).toBeGreaterThan(1000);
  return reused;
}

describe('repeated line tails (LineRestMemo)', () => {
  for (const format of ['csv', 'jsonl'] as const) {
    it(`${format}: a load whose tails repeat gives what a load that never reuses a tail gives`, async () => {
      const rand = prng(format === 'csv' ? 5961 : 7231);
      const pairs = Array.from({ length: 3000 }, () => [pick(rand, INDICATORS), pick(rand, TAILS)] as const);
      // The same entries written so that no tail can be reused: a quoted CSV indicator, a JSON line opening with a
      // space. Both parse to the same fields; only the reuse differs.
      const write = (reuse: boolean): string[] =>
        format === 'csv'
          ? [CSV_HEADER, ...pairs.map(([i, t]) => csvLine(i, t, !reuse))]
          : pairs.map(([i, t]) => jsonLine(i, t, !reuse));
      const reused = await load(`reused.${format}`, write(true));
      const fresh = await load(`fresh.${format}`, write(false));
      expect(outcome(reused)).toEqual(outcome(fresh));
      // The comparison covers loaded, refused and expired lines alike.
      expect(reused.stats.loaded).toBeGreaterThan(500);
      expect(reused.stats.skipped).toBeGreaterThan(500);
      expect(reused.stats.expired).toBeGreaterThan(50);
    });
  }

  it('treats an id equal to one indicator as that entry\'s default id and as an explicit id of the others', async () => {
    const tail: Tail = { source: 'feed-a', id: '198.18.0.7' };
    for (const lines of [
      [CSV_HEADER, csvLine('198.18.0.7', tail, false), csvLine('198.18.0.8', tail, false)],
      [jsonLine('198.18.0.7', tail, false), jsonLine('198.18.0.8', tail, false)],
      [CSV_HEADER, csvLine('198.18.0.8', tail, false), csvLine('198.18.0.7', tail, false)],
    ]) {
      // Both lines have the identity (feed-a, 198.18.0.7), whether their id is the default or explicit: the second
      // line replaces the first. Had the second taken the first's "default id" from the memo, both would stay.
      const { entries } = await load('ids.txt', lines);
      const last = lines[lines.length - 1]!;
      expect(entries).toEqual([expect.objectContaining({ source: 'feed-a', id: '198.18.0.7', indicator: last.includes('198.18.0.8') ? '198.18.0.8' : '198.18.0.7' })]);
    }
  });

  it('lends no tail from a JSON line that only JSON.parse reads (a repeated key decides the indicator there)', async () => {
    const lines = [
      '{"indicator":"198.18.0.7","indicator":"198.18.0.9","source":"x"}',
      '{"indicator":"198.18.0.5","indicator":"198.18.0.9","source":"x","action":"monitor"}',
      '{"indicator":"198.18.0.6","indicator":"198.18.0.9","source":"x","action":"monitor"}',
    ];
    const { entries } = await load('repeated-key.jsonl', lines);
    expect(entries).toEqual([expect.objectContaining({ indicator: '198.18.0.9', action: 'monitor' })]);
  });

  it('keeps lone surrogates as they are in what it keeps, so that the check still refuses them (text input)', async () => {
    // A file's bytes never decode to a lone surrogate, but text handed to loadIntelStream can hold one.
    expect(detachString('abcdefghijklm\uD800')).toBe('abcdefghijklm\uD800');
    expect(detachString('abcdefghijklm\uD83D\uDE00')).toBe('abcdefghijklm\uD83D\uDE00');
    const load = async (lines: string[]): Promise<IntelLoadStats> =>
      loadIntelStream([lines.join('\n')], new IntelSet({ clock: () => NOW }), { nowSeconds: NOW, format: 'jsonl' });
    const long = await load(['{"indicator":"198.18.0.4","tags":["abcdefghijklm\uD800"]}']);
    expect(long.errors.map((e) => e.message)).toEqual([expect.stringContaining('unpaired UTF-16 surrogate')]);
    // The second list differs from the first only where the first holds its lone surrogate.
    const pair = await load([
      '{"indicator":"198.18.0.4","tags":["ab\uD800","cdefghijkl"]}',
      '{"indicator":"198.18.0.5","tags":["ab\uFFFD","cdefghijkl"]}',
    ]);
    expect(pair.errors.map((e) => e.line)).toEqual([1]);
    expect(pair.loaded).toBe(1);
  });

  it('turns itself off when tails do not repeat, and stays on while they do', () => {
    const parts: PreparedParts = { action: 'block', actionCode: 2, expiresAt: 0, source: 's', reason: '', tags: Object.freeze([]), id: null };
    const unique = new LineRestMemo();
    for (let i = 0; unique.enabled && i < 100_000; i++) {
      if (unique.get(`,tail-${i}`) === undefined) unique.set(`,tail-${i}`, parts);
    }
    expect(unique.enabled).toBe(false);
    const repeated = new LineRestMemo();
    for (let i = 0; i < 100_000; i++) {
      const tail = `,tail-${i % 5000}`; // more tails than it keeps, but most lines repeat one it has
      if (repeated.get(tail) === undefined) repeated.set(tail, parts);
    }
    expect(repeated.enabled).toBe(true);
    expect(repeated.get(',tail-1')).toEqual(parts);
    // A tag list that is not frozen could be changed by its owner later: it is not kept.
    repeated.set(',other', { ...parts, tags: ['x'] });
    expect(new LineRestMemo().get(',other')).toBeUndefined();
  });

  it('csv with the id column last: a tail is remembered without the id, and each line keeps its own id', async () => {
    const rand = prng(4242);
    // Id fields of every kind, written after the line's last comma.
    const idField = (n: number): string | null => {
      switch (randInt(rand, 14)) {
        case 0: return '';
        case 1: return `  id-${n} `; // trimmed, as an unquoted field is
        case 2: return `"quoted, ${n}"`; // holds a quote: this line is not split
        case 3: return `"id-${n}"`;
        case 4: return 'bad\u0001id'; // control character: refused, for the id
        case 5: return 'x'.repeat(300); // too long
        case 6: return '198.18.0.7'; // equals an indicator
        case 7: return `ab"c${n}`; // stray quote: a CSV error
        case 8: return null; // the id field is missing: one field fewer than the header
        case 9: return `id-${n},extra`; // one field more than the header
        case 10: return `   `;
        default: return `ioc-${n % 700}`; // repeats: later lines replace earlier ones
      }
    };
    const rows = Array.from({ length: 4000 }, (_, n) => [pick(rand, INDICATORS), pick(rand, TAILS), idField(n)] as const);
    const write = (reuse: boolean): string[] => [
      CSV_HEADER,
      ...rows.map(([indicator, tail, id]) => {
        const line = csvLine(indicator, { ...tail, id: undefined }, !reuse);
        return id === null ? line.slice(0, line.lastIndexOf(',')) : `${line}${id}`;
      }),
    ];
    const reused = await sameAsWithoutReuse('id-last.csv', write);
    expect(reused.entries.filter((e) => (e as { id: string }).id.startsWith('ioc-')).length).toBeGreaterThan(300);
  });

  it('csv with the id column last: a line without its id field lends no tail to lines that have one', async () => {
    // Without the id field, the last field is the tags: had this line's tail been kept up to its last comma, the
    // next line's tags would be read as its id.
    const lines = [CSV_HEADER, '198.18.0.7,block,,feed,,c2', '198.18.0.8,block,,feed,,c2,ticket-1', '198.18.0.9,block,,feed,,c2,ticket-2'];
    const { entries, stats } = await load('missing-id.csv', lines);
    expect(stats.loaded).toBe(3);
    expect(entries.map((e) => [(e as { indicator: string }).indicator, (e as { id: string }).id, (e as { tags: string[] }).tags])).toEqual([
      ['198.18.0.7', '198.18.0.7', ['c2']],
      ['198.18.0.8', 'ticket-1', ['c2']],
      ['198.18.0.9', 'ticket-2', ['c2']],
    ]);
  });

  it('json lines ending with their id: a tail is remembered without the id, and each line keeps its own id', async () => {
    const rand = prng(3131);
    // How each line ends, from its id member on: text to append after the line's other members.
    const idMember = (n: number): string => {
      switch (randInt(rand, 16)) {
        case 0: return ',"id":""';
        case 1: return `,"id":"  id-${n} "`;
        case 2: return `, "id": "spaced-${n}"`; // as json.dumps writes it
        case 3: return `,"id" : "odd-${n}"`; // other spacing: read, but not split
        case 4: return `,"id":"esc\\"aped-${n}"`; // an escape: JSON.parse reads it
        case 5: return ',"id":"bad\\u0001id"'; // an escaped control character: refused, for the id
        case 6: return `,"id":"${'x'.repeat(300)}"`; // too long
        case 7: return ',"id":"198.18.0.7"'; // equals an indicator
        case 8: return `,"id":${n}`; // a number
        case 9: return ''; // no id
        case 10: return `,"id":"id-${n}","confidence":90`; // another key after the id
        case 11: return `,"id":"   "`;
        case 12: return `,"note":"x","id":"n-${n}"`; // another key before the id
        default: return `,"id":"ioc-${n % 700}"`; // repeats: later lines replace earlier ones
      }
    };
    const rows = Array.from({ length: 4000 }, (_, n) => [pick(rand, INDICATORS), pick(rand, TAILS), idMember(n)] as const);
    const write = (reuse: boolean): string[] =>
      rows.map(([indicator, tail, id]) => {
        const line = jsonLine(indicator, { ...tail, id: undefined }, !reuse);
        return `${line.slice(0, -1)}${id}}`;
      });
    const reused = await sameAsWithoutReuse('id-last.jsonl', write);
    expect(reused.entries.filter((e) => (e as { id: string }).id.startsWith('ioc-')).length).toBeGreaterThan(200);
  });

  it('loads every line when tails never repeat (an id on each)', async () => {
    const rand = prng(99);
    const lines = [CSV_HEADER];
    for (let i = 0; i < 12_000; i++) lines.push(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255},block,,feed,,,id-${i}-${randInt(rand, 1e9)}`);
    const { stats, entries } = await load('unique.csv', lines);
    expect(stats.loaded).toBe(12_000);
    expect(entries).toHaveLength(12_000);
  });
});
