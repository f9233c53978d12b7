import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareEntry } from '../../src/intel/entry.js';
import { loadIntelFile, loadIntelStream } from '../../src/intel/intel-file.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { OffpathError } from '../../src/util/errors.js';
import { pick, prng, randInt } from './helpers.js';

const NOW = 1_700_000_000;
const dir = mkdtempSync(join(tmpdir(), 'offpath-load-batch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a set holds, comparable across sets (handles differ). */
function contents(set: IntelSet): unknown[] {
  return [...set.entries()].map((e) => ({ ...e, handle: undefined })).sort((a, b) => (`${a.source} ${a.id}` < `${b.source} ${b.id}` ? -1 : 1));
}

describe('loads upsert in batches after the first 4096 entries (IntelSet.prefetch)', () => {
  it('gives the set that upserting each line in turn gives: replacements within and across batches, ids, errors', async () => {
    const rand = prng(6464);
    // Few distinct identities, so that a line often replaces one from the same batch or the one before.
    const indicator = (): string => {
      const n = randInt(rand, 3000);
      return pick(rand, [`198.18.${n >> 8}.${n & 255}`, `198.19.${n >> 8}.0/24`, `2001:db8::${n.toString(16)}`, `198.18.0.${n & 255}:443/tcp`, 'x.example.com', 'not-an-indicator']);
    };
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const o: Record<string, unknown> = { indicator: indicator(), source: pick(rand, ['feed-a', 'feed-b', 'feed-c']), action: pick(rand, ['block', 'monitor', 'allow']) };
      const r = rand();
      if (r < 0.3) o.id = `ioc-${randInt(rand, 500)}`; // an id that moves from one indicator to another
      else if (r < 0.35) o.expires = '2001-01-01T00:00:00Z'; // already expired: skipped, replaces nothing
      else if (r < 0.37) o.action = 'explode';
      if (rand() < 0.5) o.expires ??= `${1 + randInt(rand, 30)}d`;
      lines.push(JSON.stringify(o));
    }
    const path = join(dir, 'batched.jsonl');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const loaded = new IntelSet({ clock: () => NOW });
    const stats = await loadIntelFile(path, loaded, { nowSeconds: NOW });

    // The reference: each line checked and upserted on its own, in order.
    const reference = new IntelSet({ clock: () => NOW });
    let upserted = 0;
    const failed: number[] = [];
    lines.forEach((line, i) => {
      try {
        const entry = prepareEntry(JSON.parse(line) as never, { nowSeconds: NOW });
        if (entry.expiresAt !== 0 && entry.expiresAt <= NOW) return;
        reference.upsertPrepared(entry);
        upserted++;
      } catch (err) {
        if (!(err instanceof OffpathError)) throw err;
        failed.push(i + 1);
      }
    });
    expect(stats.loaded).toBe(upserted);
    expect(upserted).toBeGreaterThan(10_000);
    expect(stats.errors.map((e) => e.line)).toEqual(failed.slice(0, stats.errors.length));
    expect(contents(loaded)).toEqual(contents(reference));
    expect(loaded.digest()).toBe(reference.digest());
  });

  it('upserts the last, partial batch at the end of the input', async () => {
    const count = 4096 + 64 * 3 + 17;
    const text = Array.from({ length: count }, (_, i) => `198.18.${i >> 8}.${i & 255}`).join('\n'); // no final newline
    const set = new IntelSet({ clock: () => NOW });
    const stats = await loadIntelStream(Readable.from([text]), set, { nowSeconds: NOW });
    expect(stats.loaded).toBe(count);
    expect(set.size).toBe(count);
    expect(set.matchV4(((198 << 24) | (18 << 16) | ((count - 1) >> 8 << 8) | ((count - 1) & 255)) >>> 0)).toBeGreaterThanOrEqual(0);
  });
});

describe('the load reserves CIDR tables by prefix length from its sample', () => {
  const net = (i: number, len: 16 | 24): string => {
    const a = len === 24 ? (0x0a000000 + i * 256) >>> 0 : (0x0b000000 + i * 65536) >>> 0;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0/${len}`;
  };
  type Tables = { index: { cidr4: { growing: boolean; byteLength: number }[] } };

  it('sizes each length for its share of the file, so that no table grows during the rest of the load', async () => {
    // 90 % /24s and 10 % /16s, mixed from the first line on.
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(i % 10 === 9 ? net(Math.floor(i / 10), 16) : net(i, 24));
    const set = new IntelSet({ clock: () => NOW });
    const tables = (set as unknown as Tables).index.cidr4;
    let grew = false;
    const upsert = set.upsertPrepared.bind(set);
    set.upsertPrepared = (entry) => {
      const handle = upsert(entry);
      if (set.size > 4096 && (tables[24]!.growing || tables[16]!.growing)) grew = true;
      return handle;
    };
    const stats = await loadIntelStream(Readable.from([`${lines.join('\n')}\n`]), set, { nowSeconds: NOW, expectedBytes: lines.join('\n').length + 1 });
    expect(stats.loaded).toBe(100_000);
    expect(grew).toBe(false);
    expect(tables[24]!.byteLength).toBeGreaterThan(tables[16]!.byteLength * 5);
  });

  it('a second file reserves for its own prefix lengths only', async () => {
    const set = new IntelSet({ clock: () => NOW });
    const tables = (set as unknown as Tables).index.cidr4;
    const first = Array.from({ length: 50_000 }, (_, i) => net(i, 24)).join('\n');
    await loadIntelStream(Readable.from([first]), set, { nowSeconds: NOW, expectedBytes: first.length });
    const bytes24 = tables[24]!.byteLength;
    const second = Array.from({ length: 50_000 }, (_, i) => net(i, 16)).join('\n');
    await loadIntelStream(Readable.from([second]), set, { nowSeconds: NOW, source: 'other', expectedBytes: second.length });
    expect(tables[24]!.byteLength).toBe(bytes24);
    expect(set.size).toBe(100_000);
  });
});
