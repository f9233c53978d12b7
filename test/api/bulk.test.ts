/**
 * POST /v1/blocks/bulk on the bulk write path, over real HTTP against a real Redis: per-line results of mixed
 * lines (and the fast path for repeated line shapes giving exactly what the full validation gives), batch
 * boundaries, duplicates in one batch, a sensor following the import, and a client that goes away half-way.
 */
import { connect } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prng } from '../intel/helpers.js';
import { BulkLineValidator, type BodyValidator } from '../../src/api/bulk-line.js';
import { blockBodySchema } from '../../src/api/schemas.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { RedisIntelStore } from '../../src/intel/redis/intel-store.js';
import { RedisIntelSync } from '../../src/intel/redis/intel-sync.js';
import { eventually, startRedisApi, type ApiHarness } from './harness.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };
let api: ApiHarness;
let small: ApiHarness;

beforeAll(async () => {
  api = await startRedisApi();
  small = await startRedisApi({ bulkBatchSize: 4 });
}, 60_000);

afterAll(async () => {
  await api?.stop();
  await small?.stop();
});

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** Lines of a few shapes, each repeated with many indicator values, good and bad, plus lines of every odd form. */
function fuzzLines(seed: number, count: number): string[] {
  const rand = prng(seed);
  const indicators = [
    '198.18.7.1', '198.18.7.2', '2001:db8::1', '2001:DB8:0::2', '198.18.0.0/24', '198.18.0.5/24', '10.0.0.0/8', '2001:db8::/16',
    'example.com', 'Example.COM.', 'bad..name', '198.18.7.3:443/tcp', '[2001:db8::1]:53/UDP', '198.18.7.300', ' 198.18.7.4 ', '',
    'x'.repeat(301), '198.18.7.5\\u0000', 'é.example', '198.18.7.\\u0036', '*.example.com', '1.2.3.4:0',
  ];
  const shapes: string[][] = [];
  const fields: Record<string, readonly string[]> = {
    source: ['"feed-a"', '"feed-b"', '" padded "', '""', '"a\\tb"', '1', '"\\ud800"'],
    reason: ['"c2"', '"phish kit"', '"é"', '"x\\ny"', 'null', '"\\udc00x"'],
    tags: ['["a","b"]', '["b","a","a"]', '[]', '["a\\u0007"]', '"a;b"', '[" t "]'],
    ttl: ['"7d"', '3600', '"3600"', '0', '"forever"', '315360001', '"11y"'],
    expires: ['"2099-01-01T00:00:00Z"', '4102444800', '"2001-01-01"', '"7d"', '100'],
    action: ['"block"', '"monitor"', '"allow"', '"kill"'],
    id: ['"T-1"', '"198.18.7.1"', '""', '" T-2 "'],
    force: ['true', 'false', '"yes"'],
    colour: ['"red"'],
  };
  for (let s = 0; s < 12; s++) {
    const names = Object.keys(fields).filter(() => rand() < 0.35);
    shapes.push(names.map((n) => `"${n}":${pick(rand, fields[n]!)}`));
  }
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const shape = pick(rand, shapes);
    const value = JSON.stringify(pick(rand, indicators)).replace(/\\\\u/g, '\\u');
    const r = rand();
    if (r < 0.75) out.push(`{"indicator":${value}${shape.map((f) => `,${f}`).join('')}}`);
    else if (r < 0.85) out.push(`{${[...shape, `"indicator":${value}`].join(',')}}`);
    else if (r < 0.9) out.push(`{ "indicator": ${value}${shape.map((f) => `, ${f}`).join('')} }`);
    else if (r < 0.95) out.push(`{"indicator":${value},"indicator":"198.18.9.9"${shape.map((f) => `,${f}`).join('')}}`);
    else if (r < 0.97) out.push(`${pick(rand, [' ', 'x', '[', ''])}"indicator":${value}${shape.map((f) => `,${f}`).join('')}}`);
    else out.push(pick(rand, ['not json', '[1,2]', '{}', '{"indicator":', '{"indicator":"198.18.7.1"} x', 'null']));
  }
  return out;
}

/** The compiled body schema of POST /v1/blocks, as the bulk route gets it. */
async function blockBodyValidator(): Promise<BodyValidator> {
  const app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, allowUnionTypes: true } } });
  let validate: BodyValidator | null = null;
  app.post('/', async (request) => {
    validate = request.compileValidationSchema(blockBodySchema, 'body') as BodyValidator;
    return {};
  });
  await app.inject({ method: 'POST', url: '/', payload: {} });
  await app.close();
  return validate!;
}

describe('bulk line validation', () => {
  test('lines of a shape already seen give exactly what the full validation gives (fuzzed)', async () => {
    const validate = await blockBodyValidator();
    const now = 1_800_000_000;
    for (const admin of [false, true]) {
      const cached = new BulkLineValidator(validate, 'block', admin, now);
      let fast = 0;
      for (const line of fuzzLines(admin ? 2 : 1, 4000)) {
        const fresh = new BulkLineValidator(validate, 'block', admin, now).check(line);
        const got = cached.check(line);
        expect(got, line).toEqual(fresh);
        if ('indicator' in got && line.startsWith('{"indicator":"')) fast++;
      }
      expect(fast).toBeGreaterThan(100);
    }
  });

  test('thousands of shapes whose lines differ only inside, at equal length: each line keeps its own reason', async () => {
    // Thousands of shapes that differ in a few characters in their middle: a shape cache keyed by anything less than
    // the whole text around the indicator would hand a line another line's reason.
    const validator = new BulkLineValidator(await blockBodyValidator(), 'block', false, 1_800_000_000);
    const reason = (k: number): string => `reason ${String(k).padStart(4, '0')} of the feed`;
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 3000; k++) {
        const got = validator.check(`{"indicator":"198.18.${k % 200}.${round + 1}","source":"feed","reason":"${reason(k)}","ttl":"1d"}`);
        expect('indicator' in got ? got.reason : got, `line ${k}`).toBe(reason(k));
      }
    }
  });
});

/** Posts NDJSON; resolves with the result lines (by line number) and the summary. */
async function bulk(h: ApiHarness, lines: string[], query = ''): Promise<{ results: Map<number, any>; summary: any; raw: any[] }> {
  const r = await h.request('POST', `/v1/blocks/bulk${query}`, { raw: lines.join('\n'), headers: NDJSON });
  expect(r.status).toBe(200);
  const raw = r.text.trim().split('\n').map((l) => JSON.parse(l));
  const summary = raw.pop().summary;
  return { results: new Map(raw.map((o) => [o.line, o])), summary, raw };
}

describe('bulk import', () => {
  test('mixed good and bad lines: each line gets what POST /v1/blocks gives the same body', async () => {
    const lines = fuzzLines(7, 300).map((l) => l.replace(/198\.18\.7\./g, '198.18.70.'));
    const { results, summary } = await bulk(api, lines);
    expect(summary).toMatchObject({ lines: 300, complete: true, applied: true });
    expect(summary.created + summary.updated + summary.failed).toBe(300);
    for (let i = 0; i < lines.length; i++) {
      const got = results.get(i + 1);
      const single = await api.request('POST', '/v1/blocks', { raw: lines[i], headers: { 'content-type': 'application/json' } });
      if (got.ok) {
        expect(single.status, lines[i]).toBe(200); // exists now: the bulk wrote it
      } else if (got.error.code === 'invalid_json' || got.error.code === 'over_broad') {
        // Worded for a line, or for a bulk import (how to force it), the same code and field.
        expect([single.json.error.code, single.json.error.field], lines[i]).toEqual([got.error.code, got.error.field]);
      } else {
        expect(single.json.error, lines[i]).toEqual(got.error);
      }
    }
  }, 60_000);

  test.each([1, 4, 5, 8, 9])('%i lines with batches of 4: every line answered once, in order, all written', async (n) => {
    const lines = Array.from({ length: n }, (_, i) => `{"indicator":"198.18.80.${i}","source":"chunk-${n}"}`);
    const { raw, summary } = await bulk(small, lines);
    expect(raw.map((o) => o.line)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(raw.every((o) => o.ok && o.status === 'created')).toBe(true);
    expect(summary).toMatchObject({ lines: n, created: n, failed: 0, complete: true, applied: true });
    for (let i = 0; i < n; i++) expect(small.set.find(`chunk-${n}`, `198.18.80.${i}`)).toBeGreaterThanOrEqual(0);
  });

  test.each([999, 1000, 1001, 2000, 2001])('%i lines at the default sizes (2000 a batch, 1000 a script call)', async (n) => {
    const lines = Array.from({ length: n }, (_, i) => `{"indicator":"198.18.${90 + (i >> 8)}.${i & 255}","source":"size-${n}","ttl":"1d"}`);
    const before = await api.redisDeps!.sync.status().versionApplied;
    const { raw, summary } = await bulk(api, lines);
    expect(raw).toHaveLength(n);
    expect(summary).toMatchObject({ lines: n, created: n, complete: true, applied: true, version: before + n });
  });

  test('duplicates in one batch behave as the same lines posted one by one', async () => {
    const lines = [
      '{"indicator":"198.18.100.1","reason":"a","source":"dup"}',
      '{"indicator":"198.18.100.1","reason":"b","source":"dup","ttl":"1h"}',
      '{"indicator":"198.18.100.1","reason":"b","source":"dup","ttl":"1h"}',
      '{"indicator":"198.18.100.2","source":"dup"}',
      '{"indicator":"198.18.100.1","reason":"c","source":"dup","action":"monitor"}',
      '{"indicator":"198.18.100.2","source":"dup","tags":["x"]}',
    ];
    const { raw, summary } = await bulk(api, lines, '?results=full');
    const sequential = [];
    for (const line of lines) sequential.push((await api.request('POST', '/v1/blocks', { raw: line.replace('"dup"', '"dup-seq"'), headers: { 'content-type': 'application/json' } })).status);
    expect(raw.map((o) => o.status)).toEqual(sequential.map((s) => (s === 201 ? 'created' : 'updated')));
    expect(summary).toMatchObject({ created: 2, updated: 4, failed: 0 });
    for (const source of ['dup', 'dup-seq']) {
      const one = (await api.request('GET', `/v1/blocks/198.18.100.1?source=${source}`)).json.entry;
      expect(one).toMatchObject({ action: 'monitor', reason: 'c', expiresAt: null, tags: [] });
      expect((await api.request('GET', `/v1/blocks/198.18.100.2?source=${source}`)).json.entry.tags).toEqual(['x']);
    }
    expect((await api.request('GET', '/v1/check?ip=198.18.100.1')).json.verdict).toBe('monitor');
  });

  test('a sensor following the same Redis sees every entry of the import: the digest of what Redis holds', async () => {
    const sensor = new RedisIntelSync({ redis: { url: api.redis!.url }, set: new IntelSet() });
    await sensor.start();
    try {
      const lines = Array.from({ length: 6000 }, (_, i) => `{"indicator":"198.18.${120 + (i >> 8)}.${i & 255}","source":"s${i % 3}","reason":"r${i % 5}","tags":["t${i % 2}"],"ttl":"7d"}`);
      const { summary } = await bulk(api, lines, '?results=errors');
      expect(summary).toMatchObject({ created: 6000, complete: true, applied: true });
      expect(await sensor.waitForVersion(summary.version, 20_000)).toBe(true);
      const reference = new RedisIntelSync({ redis: { url: api.redis!.url }, set: new IntelSet() });
      await reference.start();
      await reference.close();
      expect(sensor.set.digest()).toBe(reference.set.digest());
      expect(api.set.digest()).toBe(reference.set.digest());
      expect(sensor.status()).toMatchObject({ skippedMalformed: 0 });
    } finally {
      await sensor.close();
    }
  }, 60_000);

  test('a client that goes away half-way: every acknowledged line is stored, versions stay consistent', async () => {
    const { port } = new URL(api.url);
    const total = 40_000;
    const line = (i: number) => `{"indicator":"198.19.${(i >> 8) & 255}.${i & 255}","source":"gone","reason":"r${i % 3}"}\n`;
    const acked = await new Promise<Set<number>>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      const seen = new Set<number>();
      let text = '';
      socket.on('error', () => undefined);
      socket.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        for (const m of text.matchAll(/\{"line":(\d+),"ok":true/g)) seen.add(Number(m[1]));
        text = text.slice(Math.max(0, text.lastIndexOf('\n')));
        if (seen.size >= 5000) {
          socket.destroy();
          resolve(seen);
        }
      });
      socket.on('close', () => (seen.size >= 5000 ? resolve(seen) : reject(new Error(`closed after ${seen.size} results`))));
      socket.write(`POST /v1/blocks/bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.tokens.write}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n`);
      // The body stops coming after about half the lines, and the client leaves without ending it.
      let body = '';
      for (let i = 1; i <= total / 2; i++) body += line(i);
      const bytes = Buffer.from(body);
      socket.write(`${bytes.length.toString(16)}\r\n`);
      socket.write(bytes);
      socket.write('\r\n');
    });
    const store = new RedisIntelStore(api.client!);
    // The import ends on the server side (the audit trail has it, incomplete), and the matcher catches up.
    await eventually(async () => {
      const audit = (await api.request('GET', '/v1/audit?limit=1000')).json.records as { action: string; target: { complete?: boolean; created?: number } }[];
      return audit.some((a) => a.action === 'bulk.import' && a.target.complete === false);
    }, 20_000, 'the import to end');
    for (const i of acked) expect(await store.get('gone', `198.19.${(i >> 8) & 255}.${i & 255}`), `line ${i}`).not.toBeNull();
    const status = await store.status();
    // Versions: consecutive in the stream up to the meta version, and the API's own matcher at it.
    const events = await api.client!.xrange(store.keys.stream, '-', '+');
    let expected = 0;
    for (const [id, f] of events) {
      const fields = Object.fromEntries(Array.from({ length: f.length / 2 }, (_, k) => [f[2 * k], f[2 * k + 1]]));
      const last = Number(id.split('-')[1]);
      const first = fields.o === 'b' ? last - Number(fields.n) + 1 : last;
      if (expected > 0) expect(first).toBe(expected + 1);
      expected = last;
    }
    expect(expected).toBe(status.version);
    await eventually(() => api.redisDeps!.sync.status().versionApplied === status.version, 20_000, 'the matcher to catch up');
    const reference = new RedisIntelSync({ redis: { url: api.redis!.url }, set: new IntelSet() });
    await reference.start();
    await reference.close();
    expect(api.set.digest()).toBe(reference.set.digest());
    // Later imports still work.
    const after = await bulk(api, ['{"indicator":"198.18.200.1"}']);
    expect(after.summary).toMatchObject({ created: 1, complete: true, version: status.version + 1 });
  }, 60_000);
});
