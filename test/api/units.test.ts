/** The API's and the fleet's small parts on their own: NDJSON splitting (fuzzed), logs, ids, limits, tokens. */
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { prng } from '../intel/helpers.js';
import { RateLimiter } from '../../src/api/auth/rate-limiter.js';
import { constantTimeEqual, generateToken, hashToken, tokenId, tokenMatches } from '../../src/api/auth/token-secret.js';
import { parseTokenRecord } from '../../src/api/auth/token-store.js';
import { isWellFormed, validateEntry } from '../../src/api/entry-input.js';
import { ApiError } from '../../src/api/errors.js';
import { parseListen } from '../../src/api/listen.js';
import { ndjsonLines } from '../../src/api/ndjson.js';
import { pageLimit, timeParam } from '../../src/api/params.js';
import { BoundedLog } from '../../src/fleet/bounded-log.js';
import { boundedEvent, boundedHeartbeat } from '../../src/fleet/event-shape.js';
import { parseEnforcementState } from '../../src/fleet/enforcement-watcher.js';
import { compareStreamIds, parseStreamId, StreamIdClock } from '../../src/fleet/stream-id.js';

async function collect(chunks: Buffer[], max: number) {
  const out = [];
  for await (const l of ndjsonLines(Readable.from(chunks), max)) out.push(l);
  return out;
}

describe('ndjsonLines', () => {
  test('random chunking gives the same lines as splitting the whole text (fuzzed, 300 cases)', async () => {
    const rand = prng(99);
    const alphabet = ['a', 'é', '😀', '{', '"', '\n', '\r\n', ' ', '\n\n', 'x'.repeat(30)];
    for (let c = 0; c < 300; c++) {
      let text = '';
      const parts = Math.floor(rand() * 60);
      for (let i = 0; i < parts; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      const bytes = Buffer.from(text, 'utf8');
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length;) {
        const n = 1 + Math.floor(rand() * 7);
        chunks.push(bytes.subarray(at, at + n));
        at += n;
      }
      const max = 1 + Math.floor(rand() * 60);
      const expected: { line: number; text?: string; tooLong?: true }[] = [];
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      lines.forEach((l, i) => {
        const body = l.endsWith('\r') ? l.slice(0, -1) : l;
        if (Buffer.byteLength(body) > max) expected.push({ line: i + 1, tooLong: true });
        else if (body.trim() !== '') expected.push({ line: i + 1, text: body });
      });
      const got = await collect(chunks, max);
      expect(got, JSON.stringify({ text, max })).toEqual(expected);
    }
  });

  test('a huge line without newline is skipped without being held', async () => {
    const chunks = Array.from({ length: 100 }, () => Buffer.alloc(64 << 10, 0x61));
    chunks.push(Buffer.from('\n{"ok":1}\n'));
    const got = await collect(chunks, 1024);
    expect(got).toEqual([{ line: 1, tooLong: true }, { line: 2, text: '{"ok":1}' }]);
  });
});

describe('BoundedLog and stream ids', () => {
  test('keeps the newest records, reads by cursor, by time and newest-first pages', () => {
    let now = 1_000;
    const log = new BoundedLog<{ id: string; n: number }>({ capacity: 5, clock: () => now });
    for (let n = 0; n < 8; n++) {
      log.append((id) => ({ id, n }));
      if (n % 3 === 2) now += 10;
    }
    expect(log.size).toBe(5);
    const all = log.read({ limit: 100 });
    expect(all.records.map((r) => r.n)).toEqual([3, 4, 5, 6, 7]);
    expect(all.more).toBe(false);
    const first = log.read({ limit: 2, sinceMs: 0 });
    expect(first.records.map((r) => r.n)).toEqual([3, 4]);
    expect(first.more).toBe(true);
    expect(log.read({ afterId: first.nextCursor!, limit: 10 }).records.map((r) => r.n)).toEqual([5, 6, 7]);
    expect(log.read({ sinceMs: 1_020, limit: 10 }).records.map((r) => r.n)).toEqual([6, 7]);
    expect(log.read({ limit: 2 }).records.map((r) => r.n)).toEqual([6, 7]);
    expect(log.read({ afterId: all.nextCursor!, limit: 10 })).toEqual({ records: [], nextCursor: all.nextCursor, more: false });
  });

  test('ids increase even when the clock stands still or steps back', () => {
    let now = 5000;
    const clock = new StreamIdClock(() => now);
    const ids = [clock.next(), clock.next()];
    now = 4000;
    ids.push(clock.next());
    now = 6000;
    ids.push(clock.next());
    for (let i = 1; i < ids.length; i++) expect(compareStreamIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
    expect(parseStreamId('12-3')).toEqual({ ms: 12, seq: 3 });
    for (const bad of ['', '1', '1-', '-1', '1-2-3', 'a-b', '1.5-2', `${'9'.repeat(20)}-1`]) expect(parseStreamId(bad)).toBeNull();
  });
});

describe('rate limiter', () => {
  test('bursts of two seconds, then the rate; Retry-After in whole seconds', () => {
    let now = 0;
    const limiter = new RateLimiter(5, 2, () => now);
    let allowed = 0;
    for (let i = 0; i < 20; i++) if (limiter.take('t').allowed) allowed++;
    expect(allowed).toBe(10);
    const refused = limiter.take('t');
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now += 1000;
    allowed = 0;
    for (let i = 0; i < 20; i++) if (limiter.take('t').allowed) allowed++;
    expect(allowed).toBe(5);
    expect(limiter.take('other').allowed).toBe(true);
    expect(limiter.take('own', 1).allowed).toBe(true);
  });
});

describe('tokens', () => {
  test('generated tokens: id is public, only the hash matches, tampering fails', () => {
    const t = generateToken();
    expect(tokenId(t.token)).toBe(t.id);
    expect(t.hash).toBe(hashToken(t.token));
    expect(tokenMatches(t.token, t.hash)).toBe(true);
    expect(tokenMatches(t.token.slice(0, -1) + (t.token.endsWith('A') ? 'B' : 'A'), t.hash)).toBe(false);
    expect(tokenMatches(t.token, 'ab')).toBe(false);
    expect(constantTimeEqual(t.token, `${t.token}`)).toBe(true);
    expect(constantTimeEqual(t.token, t.token.slice(0, -1) + '!')).toBe(false);
    expect(constantTimeEqual(t.token, `!${t.token.slice(1)}`)).toBe(false);
    expect(constantTimeEqual(t.token, t.token.slice(1))).toBe(false);
    for (const bad of ['', 'opk_', `opk_${t.id}`, `opk_${t.id}_short`, `xyz_${t.id}_${'A'.repeat(43)}`, `opk_${t.id.toUpperCase()}_${'A'.repeat(43)}`]) expect(tokenId(bad)).toBeNull();
  });

  test('stored records are validated, never trusted', () => {
    const good = { id: '0123456789abcdef', name: 'n', scope: 'read', hash: 'a'.repeat(64), createdAt: 'x', createdBy: 'y', revokedAt: null, revokedBy: null, rateLimit: 5 };
    expect(parseTokenRecord(JSON.stringify(good))).toEqual(good);
    for (const bad of ['', 'null', '[]', '{', JSON.stringify({ ...good, scope: 'root' }), JSON.stringify({ ...good, hash: 'short' }), JSON.stringify({ ...good, id: 'x' })]) {
      expect(parseTokenRecord(bad)).toBeNull();
    }
    expect(parseTokenRecord(JSON.stringify({ ...good, rateLimit: -1 }))!.rateLimit).toBeNull();
  });
});

describe('inputs', () => {
  test('listen addresses', () => {
    expect(parseListen('127.0.0.1:8443')).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':80')).toEqual({ host: '0.0.0.0', port: 80 });
    for (const bad of ['', '127.0.0.1', '::1:80', '1.2.3.4:99999', 'host:port']) expect(() => parseListen(bad)).toThrow(/HOST:PORT/);
  });

  test('times and limits', () => {
    expect(timeParam('since', '2030-01-01T00:00:00Z')).toBe(Date.UTC(2030, 0, 1));
    expect(timeParam('since', '2030-01-01 00:00')).toBe(Date.UTC(2030, 0, 1));
    expect(timeParam('since', '1900000000')).toBe(1_900_000_000_000);
    expect(timeParam('since', '1900000000123')).toBe(1_900_000_000_123);
    for (const bad of ['soon', '2030-13-01', '-5', '1e9']) expect(() => timeParam('since', bad)).toThrow(ApiError);
    expect(pageLimit(undefined)).toBe(100);
    expect(() => pageLimit('1001')).toThrow(/limit/);
  });

  test('entry bodies: ttl and expires become absolute, errors name the field', () => {
    const now = 1_800_000_000;
    const v = validateEntry({ indicator: ' 198.18.0.1 ', ttl: '2h', tags: ['b', 'a', 'a'] }, 'block', now);
    expect(v.prepared.expiresAt).toBe(now + 7200);
    expect(v.input).toMatchObject({ indicator: '198.18.0.1', source: 'api', tags: ['a', 'b'] });
    expect(validateEntry({ indicator: '198.18.0.1', expires: 1_900_000_000 }, 'block', now).prepared.expiresAt).toBe(1_900_000_000);
    expect(validateEntry({ indicator: '10.0.0.0/8' }, 'block', now).overBroad).toMatch(/over-broad/);
    expect(validateEntry({ indicator: '10.0.0.0/8' }, 'allow', now).overBroad).toBeNull();
    const field = (body: object): string | null => {
      try {
        validateEntry(body as never, 'block', now);
        return 'accepted';
      } catch (err) {
        return (err as ApiError).field;
      }
    };
    expect(field({ indicator: 'x' })).toBe('indicator');
    expect(field({ indicator: '198.18.0.1', ttl: '0' })).toBe('ttl');
    expect(field({ indicator: '198.18.0.1', ttl: 400_000_000 })).toBe('ttl');
    expect(field({ indicator: '198.18.0.1', expires: 100 })).toBe('expires');
    expect(field({ indicator: '198.18.0.1', expires: '1999-01-01' })).toBe('expires');
    expect(field({ indicator: '198.18.0.1', source: '\u0007' })).toBe('source');
    expect(field({ indicator: '198.18.0.1', id: 'x\ny' })).toBe('id');
    expect(field({ indicator: '198.18.0.1', id: '\udc00' })).toBe('id');
    expect(field({ indicator: '198.18.0.1', reason: 'emoji 😀 ok', tags: ['中文'] })).toBe('accepted');
    for (const [text, ok] of [['ok', true], ['😀', true], ['\ud800', false], ['\udc00x', false], ['a\ud83d', false], ['😀😀', true]] as const) expect(isWellFormed(text)).toBe(ok);
  });

  test('events and heartbeats are bounded', () => {
    const e = boundedEvent({ action: 'weird' as never, indicator: 5 as never, ts: Infinity, extra: { a: 1 }, s: 'y'.repeat(600), ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])) }, 'me', 1000);
    expect(e.sensor).toBe('me');
    expect(e.action).toBe('block');
    expect(e.indicator).toBe('');
    expect(e.ts).toBe(1);
    expect((e as Record<string, unknown>).extra).toBeUndefined();
    expect(Object.keys(e).length).toBeLessThanOrEqual(35);
    expect(() => boundedHeartbeat({ name: 'bad name', interfaces: [], version: '', intelVersion: 0, pps: 0, drops: 0 })).toThrow(RangeError);
    expect(boundedHeartbeat({ name: 's', interfaces: ['eth0'], version: 'v', intelVersion: NaN, pps: 1, drops: 2 }).intelVersion).toBe(0);
    expect(parseEnforcementState(null)?.mode).toBe('enforce');
    expect(parseEnforcementState('{"mode":"monitor"}')?.mode).toBe('monitor');
    expect(parseEnforcementState('{"mode":"off"}')).toBeNull();
    expect(parseEnforcementState('garbage')).toBeNull();
  });
});
