/**
 * An intel file parsed in the load's worker thread loads exactly as one parsed in line: the same stats, the same
 * errors, the same entries (checked entry by entry and by the set's digest). The worker runs from the compiled
 * build (dist/, which `npm test` compiles first): the TypeScript sources that vitest runs have no worker module.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pick, prng, randInt, randU32, v4Text } from './helpers.js';

type IntelFileModule = typeof import('../../src/intel/intel-file.js');
type IntelSetModule = typeof import('../../src/intel/intel-set.js');
type IntelLoadStats = import('../../src/intel/intel-file.js').IntelLoadStats;
type IntelSet = import('../../src/intel/intel-set.js').IntelSet;
type ErrorsModule = typeof import('../../src/intel/errors.js');

const NOW = 1_700_000_000;
const dir = mkdtempSync(join(tmpdir(), 'offpath-worker-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files: IntelFileModule;
let sets: IntelSetModule;
let errors: ErrorsModule;
beforeAll(async () => {
  const dist = (path: string): string => pathToFileURL(resolve('dist/src/intel', path)).href;
  files = (await import(dist('intel-file.js'))) as IntelFileModule;
  sets = (await import(dist('intel-set.js'))) as IntelSetModule;
  errors = (await import(dist('errors.js'))) as ErrorsModule;
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Indicator texts of every kind, some of them bad, over-broad or with host bits set. */
function indicator(rand: () => number, i: number): string {
  switch (randInt(rand, 12)) {
    case 0: return `${v4Text(randU32(rand) & 0xffffff00)}/24`;
    case 1: return `2001:db8:${(i & 0xffff).toString(16)}::${randInt(rand, 0xffff).toString(16)}`;
    case 2: return `2001:db8:${(i & 0xffff).toString(16)}::/48`;
    case 3: return `${v4Text(randU32(rand))}:${1 + randInt(rand, 65535)}${['', '/tcp', '/udp'][randInt(rand, 3)]}`;
    case 4: return `[2001:db8::${(i & 0xffff).toString(16)}]:443/tcp`;
    case 5: return `host${i}.evil.example`;
    case 6: return ['300.1.1.1', 'not an indicator', '10.0.0.0/4', '8.8.8.0/8', ''][randInt(rand, 5)]!;
    default: return v4Text(randU32(rand));
  }
}

const ACTIONS = ['block', 'monitor', 'allow', '', 'BLOCK', 'explode'];
const EXPIRES = ['', '7d', '1h', '2020-01-01T00:00:00Z', String(NOW + 3600), 'soon'];

function plainFile(rand: () => number, lines: number): string {
  const out = ['# plain list', ''];
  for (let i = 0; i < lines; i++) out.push(randInt(rand, 20) === 0 ? `${indicator(rand, i)} ; note ${i}` : indicator(rand, i));
  return out.join('\n');
}

function csvFile(rand: () => number, lines: number): string {
  const out = ['indicator,action,expires,source,reason,tags,id'];
  for (let i = 0; i < lines; i++) {
    const id = randInt(rand, 4) === 0 ? '' : `ioc-${randInt(rand, lines)}`; // repeated ids update their entry
    const reason = randInt(rand, 10) === 0 ? `"reason ${i % 7}, with a comma"` : `reason ${i % 7}`;
    out.push(`${indicator(rand, i)},${ACTIONS[randInt(rand, ACTIONS.length)]},${EXPIRES[randInt(rand, EXPIRES.length)]},feed-${i & 3},${reason},c2;tier-${i % 3},${id}`);
    if (randInt(rand, 50) === 0) out.push('1.2.3.4,block,7d,too,many,fields,here,x');
  }
  return out.join('\r\n');
}

function jsonlFile(rand: () => number, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const o: Record<string, unknown> = { indicator: indicator(rand, i), action: ACTIONS[randInt(rand, ACTIONS.length)], expires: EXPIRES[randInt(rand, EXPIRES.length)], source: `feed-${i & 3}`, reason: `reason ${i % 5}`, tags: ['c2', `tier-${i % 3}`] };
    if (randInt(rand, 3) !== 0) o.id = `ioc-${randInt(rand, lines)}`;
    if (randInt(rand, 8) === 0) o.extra = { nested: [1, 2, 3] };
    out.push(JSON.stringify(o));
    if (randInt(rand, 60) === 0) out.push('{"indicator": 5}', '{not json', '[1,2]');
  }
  return out.join('\n');
}

function newSet(): IntelSet {
  return new sets.IntelSet({ clock: () => NOW });
}

function entriesOf(set: IntelSet): string[] {
  return [...set.entries()].map((e) => JSON.stringify(e)).sort();
}

function comparable(stats: IntelLoadStats): Omit<IntelLoadStats, 'durationMs' | 'parsedIn'> {
  const { durationMs: _, parsedIn: __, ...rest } = stats;
  return rest;
}

describe('intel file loads with the parse worker', () => {
  it('the build has the worker module', () => {
    expect(files).toBeDefined();
  });

  for (const [format, make] of [['plain', plainFile], ['csv', csvFile], ['jsonl', jsonlFile]] as const) {
    it(`${format}: the worker load equals the in-line load (stats, errors, entries, digest)`, async () => {
      // 20 k lines: some twenty batches, more than the batches allowed in flight, so the worker also waits.
      const path = file(`mixed.${format}`, make(prng(format.length * 7919), 20_000));
      const inLine = newSet();
      const inWorker = newSet();
      const a = await files.loadIntelFile(path, inLine, { nowSeconds: NOW, parseIn: 'thread', maxErrors: 50 });
      const b = await files.loadIntelFile(path, inWorker, { nowSeconds: NOW, parseIn: 'worker', maxErrors: 50 });
      expect([a.parsedIn, b.parsedIn]).toEqual(['thread', 'worker']);
      expect(a.format).toBe(format);
      expect(a.loaded).toBeGreaterThan(10_000);
      expect(a.skipped).toBeGreaterThan(100);
      expect(comparable(b)).toEqual(comparable(a));
      expect(inWorker.size).toBe(inLine.size);
      expect(inWorker.digest()).toBe(inLine.digest());
      expect(entriesOf(inWorker)).toEqual(entriesOf(inLine));
    }, 30_000);
  }

  it('a file without a trailing newline, with a BOM and an overlong line', async () => {
    const path = file('edges.txt', `\ufeff198.18.0.5\n${'9'.repeat(5000)}\n198.18.0.6\n198.18.0.7`);
    const a = await files.loadIntelFile(path, newSet(), { nowSeconds: NOW, parseIn: 'thread', maxLineLength: 1000 });
    const b = await files.loadIntelFile(path, newSet(), { nowSeconds: NOW, parseIn: 'worker', maxLineLength: 1000 });
    expect(comparable(b)).toEqual(comparable(a));
    expect(b.loaded).toBe(3);
    expect(b.errors).toEqual([{ line: 2, code: 'intel_line', message: 'line longer than 1000 characters' }]);
  });

  it('an empty file', async () => {
    const path = file('empty.txt', '');
    const b = await files.loadIntelFile(path, newSet(), { nowSeconds: NOW, parseIn: 'worker' });
    expect(comparable(b)).toEqual(comparable(await files.loadIntelFile(path, newSet(), { nowSeconds: NOW, parseIn: 'thread' })));
    expect(b.lines).toBe(0);
  });

  it('a bad CSV header rejects with the same typed error, naming the file and line', async () => {
    const path = file('bad-header.csv', '# feed\nindicator,expiry\n1.2.3.4,1h\n');
    const inLine = await files.loadIntelFile(path, newSet(), { parseIn: 'thread' }).catch((e: Error) => e);
    const inWorker = await files.loadIntelFile(path, newSet(), { parseIn: 'worker' }).catch((e: Error) => e);
    expect(inWorker.constructor.name).toBe('IntelFileError');
    expect((inWorker as Error & { code: string }).code).toBe('intel_file');
    expect(inWorker.message).toBe(inLine.message);
    expect(inWorker.message).toContain(`${path}:2: unknown CSV column`);
  });

  it('a file that cannot be read rejects as the in-line load does', async () => {
    // A directory passes stat() and fails at the first read, inside the worker.
    const inLine = await files.loadIntelFile(dir, newSet(), { parseIn: 'thread' }).catch((e: Error) => e);
    const inWorker = await files.loadIntelFile(dir, newSet(), { parseIn: 'worker' }).catch((e: Error) => e);
    expect(inWorker.message).toBe(inLine.message);
    expect(inWorker.message).toContain('cannot read: EISDIR');
  });

  it('auto parses large CSV and JSON-lines files in the worker, plain lists and small files in line', async () => {
    const rand = prng(5);
    const lines: string[] = [];
    for (let bytes = 0; bytes < files.WORKER_MIN_BYTES; bytes += lines[lines.length - 1]!.length + 1) {
      lines.push(JSON.stringify({ indicator: v4Text(randU32(rand)), source: 'feed', id: `ioc-${lines.length}` }));
    }
    const jsonl = file('large.jsonl', `\ufeff# exported\n\n${lines.join('\n')}`);
    const auto = await files.loadIntelFile(jsonl, newSet(), { nowSeconds: NOW });
    expect(auto.parsedIn).toBe('worker');
    expect(comparable(auto)).toEqual(comparable(await files.loadIntelFile(jsonl, newSet(), { nowSeconds: NOW, parseIn: 'thread' })));
    const small = await files.loadIntelFile(file('small.jsonl', lines.slice(0, 1000).join('\n')), newSet(), { nowSeconds: NOW });
    expect(small.parsedIn).toBe('thread');
    const plain = file('large.txt', lines.map((l) => (JSON.parse(l) as { indicator: string }).indicator.padEnd(60)).join('\n'));
    const plainStats = await files.loadIntelFile(plain, newSet(), { nowSeconds: NOW });
    expect(plainStats.parsedIn).toBe('thread');
    expect(plainStats.loaded).toBe(lines.length);
  }, 30_000);

  it('finds the format from the first line that is not blank or a comment', async () => {
    expect(await files.sniffIntelFormat(file('s1.jsonl', '\ufeff# c\n\n  {"indicator":"198.18.0.5"}\n'))).toBe('jsonl');
    expect(await files.sniffIntelFormat(file('s2.csv', '#\r\nindicator,action\r\n198.18.0.5,block\r\n'))).toBe('csv');
    expect(await files.sniffIntelFormat(file('s3.txt', '198.18.0.5\n'))).toBe('plain');
    expect(await files.sniffIntelFormat(file('s4.txt', '# only comments\n'))).toBe('plain');
  });

  it('fuzz: random and mutated files load alike both ways, or fail with the same error', async () => {
    const rand = prng(4242);
    const pieces = ['198.18.0.5', '10.0.0.0/8', '2001:db8::1', '[2001:db8::1]:53/udp', '198.18.0.5:443/tcp', 'example.com', '255.255.255.255',
      '{"indicator":"198.18.0.9","id":"x"}', '{"indicator":', 'indicator,action,id', ',,,', '"q,"', '#', '\t', '\u00e9', '\ud800', '\u0000', ';'];
    for (let i = 0; i < 40; i++) {
      let content: string;
      if (i % 4 === 0) {
        content = Buffer.from(Array.from({ length: randInt(rand, 4000) }, () => randInt(rand, 256))).toString('latin1');
      } else {
        const head = pick(rand, ['', 'indicator,action,expires,source,reason,tags,id\n', '{"indicator":"198.18.0.1"}\n']);
        const lines = Array.from({ length: randInt(rand, 3000) }, () => Array.from({ length: 1 + randInt(rand, 4) }, () => pick(rand, pieces)).join(pick(rand, ['', ',', ' '])));
        content = head + lines.join(pick(rand, ['\n', '\r\n']));
      }
      const path = file(`fuzz-${i}.txt`, content);
      const options = { nowSeconds: NOW, maxErrors: 20, maxLineLength: 200 };
      const inLine = newSet();
      const inWorker = newSet();
      const a = await files.loadIntelFile(path, inLine, { ...options, parseIn: 'thread' }).then((s) => comparable(s), (e: Error) => e.message);
      const b = await files.loadIntelFile(path, inWorker, { ...options, parseIn: 'worker' }).then((s) => comparable(s), (e: Error) => e.message);
      expect(b).toEqual(a);
      expect(entriesOf(inWorker)).toEqual(entriesOf(inLine));
    }
  }, 60_000);

  it('an entry the set refuses, early or late in the file, is a line error both ways, not a failed load', async () => {
    const lines = Array.from({ length: 9000 }, (_, i) => JSON.stringify({ indicator: v4Text((0xc6120000 + i) >>> 0), id: `ioc-${i}` }));
    const path = file('refused.jsonl', lines.join('\n'));
    const refusing = (): IntelSet => {
      const set = newSet();
      const upsert = set.upsertPrepared.bind(set);
      let n = 0;
      set.upsertPrepared = (entry) => {
        n++;
        // Line 9 goes in one by one (the sample), line 8000 in a batch.
        if (n === 9 || n === 8000) throw new errors.IntelCapacityError('full');
        return upsert(entry);
      };
      return set;
    };
    const a = await files.loadIntelFile(path, refusing(), { nowSeconds: NOW, parseIn: 'thread' });
    const b = await files.loadIntelFile(path, refusing(), { nowSeconds: NOW, parseIn: 'worker' });
    expect(comparable(b)).toEqual(comparable(a));
    expect(b.errors.map((e) => [e.line, e.code])).toEqual([[9, 'intel_capacity'], [8000, 'intel_capacity']]);
    expect(b.loaded).toBe(8998);
  });

  it('options with fields the load does not know still load in the worker', async () => {
    const path = file('extra-options.jsonl', '{"indicator":"198.18.0.5"}\n');
    const options = { nowSeconds: NOW, parseIn: 'worker' as const, logger: { info: () => undefined } };
    const stats = await files.loadIntelFile(path, newSet(), options);
    expect([stats.parsedIn, stats.loaded]).toEqual(['worker', 1]);
  });
});
