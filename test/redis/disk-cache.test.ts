/**
 * The sensor's disk cache: a file written in slices while the set keeps changing must load back as exactly the set
 * at the end of the write; damaged files are refused as a whole; bad lines are counted.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { IntelSet } from '../../src/intel/intel-set.js';
import { CacheJournal, IntelCacheError, loadIntelCache, writeIntelCache } from '../../src/intel/redis/disk-cache.js';
import { encodeRecord } from '../../src/intel/redis/record-codec.js';
import { prepareEntry } from '../../src/intel/entry.js';
import { prng, randInt } from '../intel/helpers.js';
import { contentOf } from './helpers.js';

const NOW = 1_800_000_000;
const clock = (): number => NOW;
const dir = mkdtempSync(join(tmpdir(), 'offpath-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ip = (n: number): string => `198.18.${(n >> 8) & 255}.${n & 255}`;
const position = (version: number) => () => ({ epoch: '1795000000000', version, streamId: `1795000000000-${version}`, syncedAt: 1_795_000_000_000 });

describe('disk cache', () => {
  test('changes applied while the file is written are journaled: the file loads as the set at the end', async () => {
    const set = new IntelSet({ clock });
    for (let i = 0; i < 30_000; i++) set.upsert({ indicator: ip(i), source: i % 2 ? 'a' : 'b', reason: `r${i % 5}`, tags: i % 3 ? [] : ['t'], id: i % 11 === 0 ? `id-${i}` : undefined });
    const journal = new CacheJournal();
    const rand = prng(5);
    let writing = true;
    let changes = 0;
    // A mutator that runs between the writer's slices, as the sync's event application would.
    const mutate = (async () => {
      while (writing) {
        for (let k = 0; k < 50; k++) {
          const n = randInt(rand, 40_000);
          if (randInt(rand, 3) === 0) {
            if (set.remove('a', ip(n))) journal.remove(`a\t${ip(n)}`);
          } else {
            const e = prepareEntry({ indicator: ip(n), source: 'a', reason: `changed ${changes}`, action: randInt(rand, 2) ? 'allow' : 'block' }, { nowSeconds: NOW });
            set.upsertPrepared(e);
            journal.upsert(encodeRecord(e, { createdMs: 0, updatedMs: 0, actor: '', version: 0 }));
          }
          changes++;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const file = join(dir, 'moving.cache');
    // The trailer's position is read when the journal is dumped: the file must equal the set at that moment
    // (changes after it belong to the next cache write).
    let calls = 0;
    let expected: string[] = [];
    let expectedDigest = '';
    const written = await writeIntelCache(file, set, () => true, journal, () => {
      if (++calls === 2) {
        expected = contentOf(set);
        expectedDigest = set.digest();
      }
      return position(42)();
    });
    writing = false;
    await mutate;
    expect(written).not.toBeNull();
    expect(changes).toBeGreaterThan(50); // the set really moved during the write
    expect(existsSync(`${file}.tmp`)).toBe(false);
    const loaded = new IntelSet({ clock });
    const r = await loadIntelCache(file, loaded, NOW);
    expect(r).toMatchObject({ version: 42, epoch: '1795000000000', malformed: 0 });
    expect(calls).toBe(2);
    expect(contentOf(loaded)).toEqual(expected);
    expect(loaded.digest()).toBe(expectedDigest);
  }, 60_000);

  test('only in-scope entries are written; expired ones are skipped at load', async () => {
    const set = new IntelSet({ clock });
    set.upsert({ indicator: ip(1), source: 'redis', expires: NOW + 10 });
    set.upsert({ indicator: ip(2), source: 'redis' });
    set.upsert({ indicator: ip(3), source: 'file.txt' });
    const file = join(dir, 'scope.cache');
    expect(await writeIntelCache(file, set, (s) => s === 'redis', new CacheJournal(), position(3))).toBe(2);
    const loaded = new IntelSet({ clock });
    const r = await loadIntelCache(file, loaded, NOW + 20);
    expect(r).toMatchObject({ entries: 1, expired: 1 });
    expect(loaded.find('redis', ip(2))).toBeGreaterThanOrEqual(0);
    expect(loaded.find('file.txt', ip(3))).toBe(-1);
  });

  test('a missing, truncated or foreign file is refused and the target stays untouched; bad lines are counted', async () => {
    const set = new IntelSet({ clock });
    for (let i = 0; i < 10; i++) set.upsert({ indicator: ip(i) });
    const file = join(dir, 'good.cache');
    await writeIntelCache(file, set, () => true, new CacheJournal(), position(10));
    const text = readFileSync(file, 'utf8');
    const target = new IntelSet({ clock });
    await expect(loadIntelCache(join(dir, 'missing.cache'), target, NOW)).rejects.toBeInstanceOf(IntelCacheError);
    const truncated = join(dir, 'truncated.cache');
    writeFileSync(truncated, text.slice(0, text.lastIndexOf('{')));
    await expect(loadIntelCache(truncated, target, NOW)).rejects.toThrow(/truncated/);
    const foreign = join(dir, 'foreign.cache');
    writeFileSync(foreign, `hello\n${text.split('\n').slice(1).join('\n')}`);
    await expect(loadIntelCache(foreign, target, NOW)).rejects.toThrow(/header/);
    expect(target.size).toBe(0);
    const damaged = join(dir, 'damaged.cache');
    const lines = text.trimEnd().split('\n');
    lines.splice(3, 0, 'u\tnot a record', 'x\twhat', 'r\tno-tab');
    writeFileSync(damaged, lines.join('\n') + '\n');
    const r = await loadIntelCache(damaged, target, NOW);
    expect(r).toMatchObject({ entries: 10, malformed: 3 });
  });
});
