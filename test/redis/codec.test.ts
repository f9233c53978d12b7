/**
 * Record codec, schema helpers, event parsing and connection options: pure functions, plus a fuzz of every decoder
 * (whatever Redis holds, a reader gets an entry or a MalformedRecordError, never anything else).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { prepareEntry } from '../../src/intel/entry.js';
import { redisOptionsFromValues, redact, parseHostList, describeRedis } from '../../src/intel/redis/connection.js';
import { MalformedRecordError } from '../../src/intel/redis/errors.js';
import { decodeEntry, decodeStored, encodeContent, encodeRecord, fieldOf, TAG_SEPARATOR } from '../../src/intel/redis/record-codec.js';
import { compareStreamIds, identityField, intelKeys, parseStreamId, shardOf, shardOfIdentity, SHARD_COUNT, splitIdentityField } from '../../src/intel/redis/schema.js';
import { firstVersionOf, parseEvent } from '../../src/intel/redis/snapshot.js';
import { prng, randInt } from '../intel/helpers.js';

const NOW = 1_800_000_000;

function prepared(input: Parameters<typeof prepareEntry>[0]) {
  return prepareEntry(input, { nowSeconds: NOW });
}

describe('record codec', () => {
  const samples = [
    prepared({ indicator: '198.18.0.5' }),
    prepared({ indicator: '198.18.0.0/15', action: 'allow', source: 'soc', reason: 'our range', tags: ['prod', 'dmz'] }),
    prepared({ indicator: '[2001:2::1]:53/udp', action: 'monitor', expires: NOW + 3600, source: 'feed-a', id: 'A-17', reason: 'dns tunnel, "quoted"' }),
    prepared({ indicator: 'Example.COM.', tags: 'b;a;b', reason: 'ünïcode réason' }),
    prepared({ indicator: '2001:2::/48', expires: 4294967295 }),
  ];

  test.each(samples.map((s) => [s.indicator.text, s]))('%s round-trips through the record encoding', (_name, entry) => {
    const value = encodeRecord(entry, { createdMs: 1, updatedMs: 2, actor: 'tester', version: 7 });
    expect(decodeEntry(fieldOf(entry), value)).toEqual(entry);
    const stored = decodeStored(fieldOf(entry), value);
    expect(stored).toMatchObject({ source: entry.source, indicator: entry.indicator.text, action: entry.action, reason: entry.reason, tags: entry.tags, createdAt: 1, updatedAt: 2, actor: 'tester', version: 7 });
    expect(stored.id).toBe(entry.explicitId ?? entry.indicator.text);
    expect(stored.expiresAt).toBe(entry.expiresAt === 0 ? null : entry.expiresAt);
    expect(value.startsWith(encodeContent(entry) + '\t')).toBe(true);
  });

  const good = encodeRecord(prepared({ indicator: '198.18.0.5', reason: 'r', tags: ['a', 'b'] }), { createdMs: 1, updatedMs: 1, actor: 'x', version: 1 });
  const field = identityField('manual', '198.18.0.5');
  test.each([
    ['a field that is not the identity', identityField('manual', '198.18.0.6'), good],
    ['a field from another source', identityField('other', '198.18.0.5'), good],
    ['empty source', field, good.replace(/^manual/, '')],
    ['10 fields', field, good.split('\t').slice(0, 10).join('\t')],
    ['12 fields', field, `${good}\tx`],
    ['bad action', field, good.replace('\tblock\t', '\tkill\t')],
    ['TTL-looking expiry', field, good.replace('\tblock\t0\t', '\tblock\t3600\t')],
    ['expiry with a leading zero', field, good.replace('\tblock\t0\t', '\tblock\t01800000000\t')],
    ['non-canonical indicator', identityField('manual', '198.18.0.05'), good.replace('198.18.0.5', '198.18.0.05')],
    ['the default id spelled out', field, good.replace('manual\t\t', 'manual\t198.18.0.5\t')],
    ['garbage indicator', identityField('manual', 'not an indicator'), good.replace('198.18.0.5', 'not an indicator')],
    ['unsorted tags', field, good.replace(`a${TAG_SEPARATOR}b`, `b${TAG_SEPARATOR}a`)],
    ['empty tag', field, good.replace(`a${TAG_SEPARATOR}b`, `a${TAG_SEPARATOR}`)],
    ['a control character in a tag', field, good.replace(`a${TAG_SEPARATOR}b`, `a${TAG_SEPARATOR}b\u0007`)],
    ['newline in the reason', field, good.replace('\tr\t', '\tr\nx\t')],
    ['unit separator in the reason', field, good.replace('\tr\t', `\tr${TAG_SEPARATOR}x\t`)],
    ['untrimmed reason', field, good.replace('\tr\t', '\t r\t')],
    ['control character in the source', 'man\u0001ual\t198.18.0.5', good.replace(/^manual/, 'man\u0001ual')],
    ['huge record', field, good + 'x'.repeat(20_000)],
  ])('refuses a record with %s', (_what, f, value) => {
    expect(() => decodeEntry(f, value)).toThrow(MalformedRecordError);
  });

  test('a record read without its field (HVALS) carries its identity', () => {
    const e = prepared({ indicator: '198.18.0.5', source: 'soc', id: 'T-1', tags: ['x'] });
    expect(decodeEntry(null, encodeRecord(e, { createdMs: 1, updatedMs: 1, actor: 'x', version: 1 }))).toEqual(e);
    expect(() => decodeEntry(null, 'not a record')).toThrow(MalformedRecordError);
  });

  test('an explicit id that is not the indicator text decodes as an explicit id', () => {
    const entry = prepared({ indicator: '198.18.0.6', id: '198.18.0.5' });
    expect(decodeEntry(fieldOf(entry), encodeRecord(entry, { createdMs: 1, updatedMs: 1, actor: 'x', version: 1 })).explicitId).toBe('198.18.0.5');
  });

  test('fuzz: decoders throw MalformedRecordError or return an entry, for random and mutated input', () => {
    const rand = prng(20261123);
    const alphabet = ['\t', TAG_SEPARATOR, '\n', '\u0000', ' ', '.', ':', '/', '[', ']', '0', '1', '9', 'a', 'block', 'allow', '198.18.0.1', '2001:2::', 'é', '\uffff', '\ud800'];
    const corpus = samples.map((s) => ({ field: fieldOf(s), value: encodeRecord(s, { createdMs: 1, updatedMs: 2, actor: 'x', version: 3 }) }));
    let decoded = 0;
    for (let i = 0; i < 20_000; i++) {
      let f: string;
      let v: string;
      if (i % 2 === 0) {
        const base = corpus[randInt(rand, corpus.length)]!;
        f = base.field;
        v = base.value;
        for (let m = 0; m < 1 + randInt(rand, 3); m++) {
          const at = randInt(rand, v.length + 1);
          const op = randInt(rand, 3);
          const piece = alphabet[randInt(rand, alphabet.length)]!;
          v = op === 0 ? v.slice(0, at) + piece + v.slice(at) : op === 1 ? v.slice(0, at) + v.slice(at + 1) : v.slice(0, at) + piece + v.slice(at + piece.length);
          if (randInt(rand, 4) === 0) f = f.slice(0, randInt(rand, f.length + 1)) + piece;
        }
      } else {
        f = Array.from({ length: randInt(rand, 6) }, () => alphabet[randInt(rand, alphabet.length)]).join('');
        v = Array.from({ length: randInt(rand, 30) }, () => alphabet[randInt(rand, alphabet.length)]).join('');
      }
      for (const decode of [decodeEntry, decodeStored, (_f: string, value: string) => decodeEntry(null, value)]) {
        try {
          decode(f, v);
          decoded++;
        } catch (err) {
          if (!(err instanceof MalformedRecordError)) throw new Error(`${JSON.stringify(f)} / ${JSON.stringify(v)}: ${String(err)}`);
        }
      }
    }
    // Some mutations keep a record valid (e.g. a changed reason): the fuzz reached the accepting path too.
    expect(decoded).toBeGreaterThan(0);
  }, 60_000);

  test('decoders take non-strings without crashing', () => {
    for (const bad of [undefined, null, 5, {}, ['a']]) {
      expect(() => decodeEntry(bad as unknown as string, 'x')).toThrow(MalformedRecordError);
      expect(() => decodeStored('a\tb', bad as unknown as string)).toThrow(MalformedRecordError);
    }
  });
});

describe('schema helpers', () => {
  test('keys share one hash tag and the prefix is checked', () => {
    const k = intelKeys('offpath:intel');
    for (const key of [k.meta, k.stream, k.expiry, k.sources, k.xind, ...k.shards]) expect(key.startsWith('{offpath:intel}:')).toBe(true);
    expect(k.shards).toHaveLength(SHARD_COUNT);
    expect(() => intelKeys('bad prefix')).toThrow(/not usable/);
    expect(() => intelKeys('{x}')).toThrow(/not usable/);
  });

  test('shardOfIdentity is shardOf of the identity field, without building it', () => {
    for (const [source, id] of [['manual', '198.18.0.5'], ['', ''], ['fééd', '[2001:db8::1]:53/udp'], ['s', 'x'.repeat(300)], ['😀', 'T-1']] as const) {
      expect(shardOfIdentity(source, id)).toBe(shardOf(identityField(source, id)));
    }
  });

  test('shardOf is stable (writers and readers in other versions must agree) and spreads', () => {
    // Pinned values: changing the function breaks every existing data set (schema version 1).
    expect([shardOf(''), shardOf('a'), shardOf('manual\t198.18.0.5')]).toEqual([197, 44, 56]);
    const counts = new Array<number>(SHARD_COUNT).fill(0);
    for (let i = 0; i < 25_600; i++) counts[shardOf(`feed\t198.18.${i >> 8}.${i & 255}`)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(50);
    expect(Math.max(...counts)).toBeLessThan(160);
  });

  test('identity fields and stream ids', () => {
    expect(splitIdentityField('src\tid\twith-tab')).toEqual({ source: 'src', id: 'id\twith-tab' });
    expect(splitIdentityField('noTab')).toBeNull();
    expect(splitIdentityField('\tx')).toBeNull();
    expect(parseStreamId('1795000000000-42')).toEqual({ epoch: '1795000000000', version: 42 });
    expect(parseStreamId('1-2-3')).toBeNull();
    expect(parseStreamId('abc')).toBeNull();
    expect(parseStreamId('1-99999999999999999')).toBeNull();
    expect(compareStreamIds('10-1', '9-5')).toBe(1);
    expect(compareStreamIds('9-5', '9-6')).toBe(-1);
    expect(compareStreamIds('9-5', '9-5')).toBe(0);
  });

  test('parseEvent reads what the scripts write and refuses the rest', () => {
    expect(parseEvent(['t', '5', 'by', 'me', 'o', 'u', 'k', 'a\tb', 'r', 'rec'])).toEqual({ op: 'u', field: 'a\tb', record: 'rec', writtenMs: 5 });
    expect(parseEvent(['o', 'r', 'k', 'a\tb'])).toMatchObject({ op: 'r', field: 'a\tb' });
    expect(parseEvent(['o', 'u', 'k', 'a\tb'])).toBeNull(); // upsert without record
    expect(parseEvent(['o', 'x', 'k', 'a'])).toBeNull();
    expect(parseEvent('nope')).toBeNull();
    expect(parseEvent([1, 2, 3])).toBeNull();
  });

  test('batch events: a count and the changes, one per line; an unreadable count or no changes is malformed', () => {
    const event = parseEvent(['t', '7', 'by', 'me', 'o', 'b', 'n', '2', 'c', 'u\trec\nr\ta\tb']);
    expect(event).toEqual({ op: 'b', count: 2, changes: 'u\trec\nr\ta\tb', writtenMs: 7 });
    expect(firstVersionOf(event, 10)).toBe(9);
    expect(firstVersionOf(parseEvent(['o', 'r', 'k', 'a\tb']), 10)).toBe(10);
    for (const n of ['0', '-1', '1.5', 'x', '', '100001']) expect(parseEvent(['o', 'b', 'n', n, 'c', 'u\trec'])).toBeNull();
    expect(parseEvent(['o', 'b', 'n', '1'])).toBeNull();
    expect(parseEvent(['o', 'b', 'n', '1', 'c', ''])).toBeNull();
  });
});

describe('connection options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offpath-redis-opts-'));

  test('no Redis flag means the embedded default', () => {
    expect(redisOptionsFromValues({}, {})).toBeNull();
  });

  test('URL, sentinel and cluster flags become ioredis options', () => {
    expect(redisOptionsFromValues({ redis: 'redis://:secret@10.0.0.5:6380/2' }, {})).toMatchObject({ url: 'redis://:secret@10.0.0.5:6380/2' });
    const pw = join(dir, 'pw');
    writeFileSync(pw, 'from-file\n');
    expect(redisOptionsFromValues({ redis: 'redis://h', 'redis-password-file': pw }, {})?.password).toBe('from-file');
    expect(redisOptionsFromValues({ redis: 'redis://h' }, { OFFPATH_REDIS_PASSWORD: 'from-env' })?.password).toBe('from-env');
    const s = redisOptionsFromValues({ 'redis-sentinel': '10.0.0.1:26379,[2001:2::5]:26380,host', 'redis-sentinel-name': 'main' }, {});
    expect(s?.sentinels).toEqual([{ host: '10.0.0.1', port: 26379 }, { host: '2001:2::5', port: 26380 }, { host: 'host', port: 26379 }]);
    expect(redisOptionsFromValues({ 'redis-cluster': 'a:7000,b:7001', 'redis-connect-timeout': '2.5' }, {})).toMatchObject({ cluster: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }], connectTimeoutMs: 2500 });
  });

  test.each([
    [{ redis: 'http://x' }, /scheme/],
    [{ redis: 'not a url' }, /not a URL/],
    [{ redis: 'redis://h/abc' }, /database/],
    [{ redis: 'redis://h/99' }, /out of range/],
    [{ 'redis-sentinel': 'a:1' }, /sentinel-name/],
    [{ 'redis-sentinel-name': 'x', redis: 'redis://h' }, /needs --redis-sentinel/],
    [{ 'redis-sentinel': 'a:1', 'redis-sentinel-name': 'm', 'redis-cluster': 'b:2' }, /cannot be combined/],
    [{ 'redis-cluster': 'a:99999' }, /HOST:PORT/],
    [{ 'redis-cluster': ',' }, /names no address/],
    [{ 'redis-tls-ca': '/x' }, /needs --redis/],
    [{ redis: 'redis://h', 'redis-tls-ca': '/nonexistent/ca.pem' }, /cannot read the TLS CA/],
    [{ redis: 'redis://h', 'redis-tls-cert': '/x' }, /needs both/],
    [{ redis: 'redis://h', 'redis-connect-timeout': '0' }, /connect-timeout/],
    [{ redis: 'redis://h', 'redis-key-prefix': 'has space' }, /not usable/],
    [{ redis: 'redis://h', 'redis-password-file': '/nonexistent/pw' }, /cannot read/],
  ])('%o is refused with a clear message', (values, message) => {
    expect(() => redisOptionsFromValues(values, {})).toThrow(message);
  });

  test('secrets never appear in descriptions', () => {
    expect(redact('redis://user:pa55@host:1/0')).toBe('redis://user:***@host:1/0');
    expect(redact('rediss://:pa55@host')).toBe('rediss://:***@host');
    expect(describeRedis({ url: 'redis://:pa55@h:1' })).not.toContain('pa55');
    expect(describeRedis({ sentinels: parseHostList('a:1', 'x', 1), sentinelName: 'm' })).toBe('sentinel master m via a:1');
  });
});
