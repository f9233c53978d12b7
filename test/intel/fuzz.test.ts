/**
 * Fuzz: random strings, mutated valid indicators and random bytes thrown at the parser, entry validation and the
 * file loader. Only typed errors (OffpathError) may come out, never a crash; whatever parses must be canonical.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { prepareEntry } from '../../src/intel/entry.js';
import { IntelFileError } from '../../src/intel/errors.js';
import { maskV4, maskV6Word, parseIndicator } from '../../src/intel/indicator.js';
import { loadIntelStream } from '../../src/intel/intel-file.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { OffpathError } from '../../src/util/errors.js';
import { pick, prng, randInt } from './helpers.js';

const SEEDS = [
  '198.18.0.5', '10.0.0.0/8', '2001:db8::1', '2001:db8::/32', '::ffff:1.2.3.4', '198.18.0.5:443/tcp', '[2001:2::1]:53/udp',
  'example.com', 'xn--bcher-kva.example', '0.0.0.0/0', '::/0', '[::1]:1',
];
const ALPHABET = [...'0123456789abcdefABCDEF.:/[]%-_ #,;"{}\\x', '\u0000', '\t', '\n', '\u00e9', '\u200b', '\ud83d\ude00', '\ud800', '\uffff'];

function mutate(rand: () => number, text: string): string {
  let s = text;
  const edits = 1 + randInt(rand, 4);
  for (let e = 0; e < edits; e++) {
    const at = randInt(rand, s.length + 1);
    const r = rand();
    if (r < 0.35) s = s.slice(0, at) + pick(rand, ALPHABET) + s.slice(at);
    else if (r < 0.65) s = s.slice(0, at) + s.slice(at + 1);
    else if (r < 0.9) s = s.slice(0, at) + pick(rand, ALPHABET) + s.slice(at + 1);
    else s = s + s.slice(0, randInt(rand, s.length + 1));
  }
  return s;
}

function randomString(rand: () => number): string {
  const n = randInt(rand, rand() < 0.05 ? 2000 : 40);
  let s = '';
  for (let i = 0; i < n; i++) s += rand() < 0.7 ? pick(rand, ALPHABET) : String.fromCharCode(randInt(rand, 0x10000));
  return s;
}

/** Invariants of anything that parses. */
function checkParsed(input: string): void {
  const p = parseIndicator(input);
  expect(parseIndicator(p.text).text).toBe(p.text);
  if (p.kind === 'cidr4') expect((p.v4 & ~maskV4(p.prefixLength)) >>> 0).toBe(0);
  if (p.kind === 'cidr6') for (let w = 0; w < 4; w++) expect((p.v6![w]! & ~maskV6Word(p.prefixLength, w)) >>> 0).toBe(0);
  if (p.kind === 'ip-port') expect(p.port >= 1 && p.port <= 65535).toBe(true);
  if (p.kind === 'domain') expect(p.text).toMatch(/^[a-z0-9.-]+$/);
}

function onlyTyped(fn: () => void): 'ok' | 'typed' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof OffpathError) return 'typed';
    throw err;
  }
}

describe('fuzz', () => {
  it('indicator parser: mutated and random inputs give a canonical value or a typed error', () => {
    const rand = prng(42);
    const outcome = { ok: 0, typed: 0 };
    for (let i = 0; i < 30000; i++) {
      const input = i % 3 === 0 ? randomString(rand) : mutate(rand, pick(rand, SEEDS));
      outcome[onlyTyped(() => checkParsed(input))]++;
    }
    // Both outcomes must be common, or the fuzzer is not exploring the grammar.
    expect(outcome.ok).toBeGreaterThan(1000);
    expect(outcome.typed).toBeGreaterThan(1000);
  });

  it('entries: random field values give an entry or a typed error, and the set stays consistent', () => {
    const rand = prng(7);
    const set = new IntelSet({ clock: () => 1_700_000_000 });
    const values: unknown[] = [undefined, null, '', 0, -1, 1.5, 3600, '2h', 'never', 'block', 'allow', 'monitor', 'ALLOW', 'x', {}, [], ['a', 'b'], ['a', 1], true, 'a;b|c', '\u0000', 'x'.repeat(2000), Number.NaN, 2 ** 40];
    let ok = 0;
    for (let i = 0; i < 5000; i++) {
      // Each field is valid most of the time, so that whole entries get through too.
      const field = (valid: unknown[]): unknown => (rand() < 0.8 ? pick(rand, valid) : pick(rand, values));
      const input = {
        indicator: rand() < 0.8 ? (rand() < 0.5 ? pick(rand, SEEDS) : mutate(rand, pick(rand, SEEDS))) : pick(rand, values),
        action: field(['block', 'allow', 'monitor', undefined]), expires: field([undefined, '1h', 3600, '2030-01-01']),
        source: field(['a', 'b', undefined]), reason: field(['r', undefined]), tags: field([['t'], 'a;b', undefined]),
        id: field([undefined, 'x-1', 5]),
      } as never;
      if (onlyTyped(() => prepareEntry(input, { nowSeconds: 1_700_000_000 })) === 'ok') ok++;
      onlyTyped(() => set.upsert(input));
    }
    expect(ok).toBeGreaterThan(50);
    expect(set.counts().total).toBe(set.size);
    expect([...set.entries()].length).toBe(set.size);
    set.expire(4_000_000_000);
    expect(set.size).toBe([...set.entries()].length);
  });

  it('file loader: random bytes in every format load or report typed errors, never crash', async () => {
    const rand = prng(99);
    for (let i = 0; i < 300; i++) {
      const format = pick(rand, ['auto', 'plain', 'csv', 'jsonl'] as const);
      let content: Buffer;
      if (i % 2 === 0) {
        content = Buffer.from(Array.from({ length: randInt(rand, 3000) }, () => randInt(rand, 256)));
      } else {
        const header = format === 'csv' || rand() < 0.3 ? 'indicator,action,expires,source,reason,tags\n' : '';
        const lines = Array.from({ length: randInt(rand, 50) }, () => {
          const r = rand();
          if (r < 0.3) return mutate(rand, pick(rand, SEEDS));
          if (r < 0.5) return `${pick(rand, SEEDS)},${pick(rand, ['block', 'allow', 'x', ''])},${pick(rand, ['1h', '', 'bad', '1999-01-01'])},"s,1",r,a;b`;
          if (r < 0.7) return JSON.stringify({ indicator: pick(rand, SEEDS), action: pick(rand, ['block', 'monitor', 5]), tags: pick(rand, [['a'], 'b|c', 3]) });
          return randomString(rand);
        });
        content = Buffer.from(header + lines.join(pick(rand, ['\n', '\r\n'])));
      }
      const set = new IntelSet({ clock: () => 1_700_000_000 });
      const parts: Buffer[] = [];
      for (let at = 0; at < content.length; ) {
        const n = 1 + randInt(rand, 512);
        parts.push(content.subarray(at, at + n));
        at += n;
      }
      try {
        const stats = await loadIntelStream(Readable.from(parts), set, { format, maxLineLength: 1024 });
        expect(stats.loaded + stats.skipped + stats.expired).toBeLessThanOrEqual(stats.lines);
        for (const e of stats.errors) expect(e.line).toBeGreaterThan(0);
        expect(set.size).toBeLessThanOrEqual(stats.loaded);
      } catch (err) {
        // Only a CSV header can make a whole file unusable.
        expect(err).toBeInstanceOf(IntelFileError);
      }
    }
  });
});
