/**
 * Generated malformed requests (seeded, reproducible): bad JSON, wrong types, huge values, invalid addresses,
 * unicode, unknown fields, bad query parameters, bad methods, bad content types, raw HTTP garbage. Every answer
 * must be below 500, every JSON error must have the one error shape and stay short (no echo of huge input), and
 * the server must still be healthy and correct afterwards. Runs against Redis mode and single-box mode.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prng } from '../intel/helpers.js';
import { expectErrorShape, startRedisApi, startSingleBoxApi, type ApiHarness } from './harness.js';

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  what: string;
}

const BAD_ADDRESSES = [
  '999.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '256.256.256.256', '-1.2.3.4', '1.2.3.4/33', '1.2.3.4/-1', '1.2.3.4/',
  '::::', ':::1', '2001:db8::1::2', 'fe80::1%eth0', '[2001:db8::1', '2001:db8::1]', '[::1]:0', '[::1]:65536', '1.2.3.4:0', '1.2.3.4:99999',
  '1.2.3.4:443/sctp', '*.example.com', 'http://1.2.3.4/', 'exa mple.com', '.com', 'a..b', '-a.com', 'a-.com', 'localhost', '1e3.0.0.1',
  '0x7f.0.0.1', '2130706433', '', ' ', '\t198.18.0.1\t', '198.18.0.1\n', '198.18.0.1\u0000', '198.18.0.0/15/16', '[1.2.3.4]:80',
  'ex\u0430mple.com', '例え.jp', '\u202e1.2.3.4', '1.2.3.4\u200b', 'xn--', 'a'.repeat(64) + '.com', `${'a.'.repeat(200)}com`,
];

const UNICODE = ['😀', '\u202e', '\u200b', '\u0000', '\uffff', '\ud800', '\udc00x', 'é', '中文', 'ﷺ', '\r\n', '"', '\\', '${x}', '<script>', "'; DROP TABLE --"];

const WRONG_TYPES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, [], [1], {}, { a: 1 }, '', 'x', [null], [[]]];

/** Percent-encodes every byte of the UTF-8 form (lone surrogates become U+FFFD, as a client would send them). */
function pct(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) out += `%${b.toString(16).padStart(2, '0')}`;
  return out;
}

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

function randomString(rand: () => number, max: number): string {
  const n = Math.floor(rand() * max);
  let s = '';
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.6) s += String.fromCharCode(32 + Math.floor(rand() * 95));
    else if (r < 0.8) s += pick(rand, UNICODE);
    else s += String.fromCharCode(Math.floor(rand() * 0x10000));
  }
  return s;
}

function generate(seed: number, count: number, tokens: { admin: string; write: string; read: string }): FuzzRequest[] {
  const rand = prng(seed);
  const out: FuzzRequest[] = [];
  const auth = (): Record<string, string> => {
    const r = rand();
    if (r < 0.8) return { authorization: `Bearer ${tokens.admin}` };
    if (r < 0.85) return { authorization: `Bearer ${tokens.read}` };
    if (r < 0.9) return { authorization: `Bearer ${randomString(rand, 80)}`.replace(/[^\x20-\x7e]/g, '') };
    if (r < 0.95) return { authorization: `Bearer opk_${'0'.repeat(16)}_${'A'.repeat(43)}` };
    return {};
  };
  const json = { 'content-type': 'application/json' };
  const entryPaths = ['/v1/blocks', '/v1/allowlist'];
  const generators: (() => FuzzRequest)[] = [
    // bad JSON
    () => {
      const good = JSON.stringify({ indicator: '198.18.0.1', reason: randomString(rand, 20) });
      const variants = [good.slice(0, Math.floor(rand() * good.length)), `${good}}`, `{${good}`, good.replace(':', ''), "{'indicator':'1.2.3.4'}", '{"indicator":NaN}', '{"indicator":Infinity}', '{"a":1,}', '\u0000', '[' .repeat(5000), `{"indicator":${'['.repeat(2000)}`, randomString(rand, 200), '{"indicator":"198.18.0.1"}{"x":1}', '{"__proto__":{"admin":true},"indicator":"198.18.0.1"}', '{"constructor":{"prototype":{"x":1}},"indicator":"198.18.0.1"}'];
      return { method: 'POST', path: pick(rand, entryPaths), headers: { ...auth(), ...json }, body: pick(rand, variants), what: 'bad json' };
    },
    // wrong types per field
    () => {
      const field = pick(rand, ['indicator', 'action', 'ttl', 'expires', 'reason', 'source', 'tags', 'id', 'force']);
      const body: Record<string, unknown> = { indicator: '198.18.0.2', [field]: pick(rand, WRONG_TYPES) };
      return { method: 'POST', path: pick(rand, entryPaths), headers: { ...auth(), ...json }, body: JSON.stringify(body), what: `wrong type ${field}` };
    },
    // huge values
    () => {
      const size = pick(rand, [301, 1025, 10_000, 100_000, 900_000]);
      const field = pick(rand, ['indicator', 'reason', 'source', 'id', 'tags', 'ttl', 'expires']);
      const value = field === 'tags' ? Array.from({ length: Math.min(size, 5000) }, (_, i) => `t${i}`) : field === 'ttl' ? Number('9'.repeat(Math.min(size, 400))) : 'x'.repeat(size);
      return { method: 'POST', path: pick(rand, entryPaths), headers: { ...auth(), ...json }, body: JSON.stringify({ indicator: '198.18.0.3', [field]: value }), what: `huge ${field}` };
    },
    // invalid addresses, in bodies and in check
    () => {
      const bad = pick(rand, BAD_ADDRESSES);
      if (rand() < 0.5) return { method: 'POST', path: pick(rand, entryPaths), headers: { ...auth(), ...json }, body: JSON.stringify({ indicator: bad }), what: 'bad indicator' };
      const param = pick(rand, ['ip', 'peer']);
      return { method: 'GET', path: `/v1/check?ip=198.18.0.1&${param}=${pct(bad)}`, headers: auth(), what: 'bad check address' };
    },
    // unicode everywhere
    () => {
      const u = randomString(rand, 40);
      const where = Math.floor(rand() * 5);
      if (where === 0) return { method: 'POST', path: '/v1/blocks', headers: { ...auth(), ...json }, body: JSON.stringify({ indicator: u }), what: 'unicode indicator' };
      if (where === 1) return { method: 'POST', path: '/v1/blocks', headers: { ...auth(), ...json }, body: JSON.stringify({ indicator: '198.18.0.4', reason: u, source: u || 's', tags: [u] }), what: 'unicode fields' };
      if (where === 2) return { method: 'GET', path: `/v1/blocks/${pct(u || 'x')}?source=${pct(u || 'y')}`, headers: auth(), what: 'unicode id' };
      if (where === 3) return { method: 'GET', path: `/v1/blocks?tag=${pct(u || 'z')}&source=${pct(u || 'z')}`, headers: auth(), what: 'unicode query' };
      return { method: 'POST', path: '/v1/blocks', headers: { ...auth(), ...json }, body: Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), what: 'invalid utf-8' };
    },
    // unknown fields
    () => {
      const key = rand() < 0.5 ? randomString(rand, 30) || 'k' : pick(rand, ['Indicator', 'ttl_seconds', 'expiry', 'mode', 'scope', 'admin', '__proto__x', 'constructor']);
      const path = pick(rand, [...entryPaths, '/v1/enforcement', '/v1/tokens']);
      const base = path === '/v1/enforcement' ? { mode: 'enforce' } : path === '/v1/tokens' ? { name: 'fz', scope: 'read' } : { indicator: '198.18.0.5' };
      return { method: path === '/v1/enforcement' ? 'PUT' : 'POST', path, headers: { ...auth(), ...json }, body: JSON.stringify({ ...base, [key]: 1 }), what: 'unknown field' };
    },
    // bad query parameters
    () => {
      const path = pick(rand, ['/v1/blocks', '/v1/allowlist', '/v1/events', '/v1/audit', '/v1/check', '/v1/sensors', '/v1/events/stream']);
      const params = pick(rand, [
        'limit=0', 'limit=-5', 'limit=1001', 'limit=abc', 'limit=1e3', 'limit=99999999999', 'limit=', 'limit=1&limit=2', 'cursor=%00', `cursor=${'9'.repeat(300)}`,
        'kind=ipv7', 'action=allow', 'expiringBefore=yesterday', 'expiringBefore=99999999999999999999', 'since=-1', 'since=2030-13-45', 'since=1-1-1',
        'ip=1.2.3.4&port=0', 'ip=1.2.3.4&port=65536', 'ip=1.2.3.4&port=1.5', 'ip=1.2.3.4&protocol=icmp', 'ip=1.2.3.4&peerPort=80', 'ip[]=1', 'ip=%E0%A4%A', 'zzz=1',
        `q=${'a'.repeat(5000)}`, 'cursor=1-2&since=3',
      ]);
      return { method: 'GET', path: `${path}?${params}`, headers: auth(), what: `query ${params.slice(0, 30)}` };
    },
    // bad methods and paths
    () => {
      const method = pick(rand, ['PATCH', 'PUT', 'DELETE', 'POST', 'OPTIONS', 'GET']);
      const path = pick(rand, ['/v1/check', '/v1/status', '/v1/blocks/bulk', '/v1/enforcement', '/v1/sensors', '/v1/audit', '/healthz', '/v1', '/', '/v2/blocks', '/v1/blocks/a/b/c', `/v1/blocks/${'x'.repeat(1000)}`, '/v1/blocks/%2e%2e%2f%2e%2e', '/v1//blocks', '/v1/blocks/%', '/v1/tokens/%ZZ']);
      return { method, path, headers: { ...auth(), ...(method === 'GET' || method === 'OPTIONS' ? {} : json) }, body: method === 'GET' || method === 'OPTIONS' ? undefined : '{}', what: `${method} ${path.slice(0, 30)}` };
    },
    // content types and bulk garbage
    () => {
      const ct = pick(rand, ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/x-ndjson', '', 'application/json;;;', '*/*']);
      const path = pick(rand, ['/v1/blocks', '/v1/blocks/bulk', '/v1/allowlist']);
      const body = rand() < 0.5 ? Buffer.from(Array.from({ length: Math.floor(rand() * 2000) }, () => Math.floor(rand() * 256))) : `${JSON.stringify({ indicator: pick(rand, BAD_ADDRESSES) })}\n${randomString(rand, 300)}`;
      return { method: 'POST', path, headers: { ...auth(), ...(ct ? { 'content-type': ct } : {}) }, body, what: `content type ${ct}` };
    },
  ];
  for (let i = 0; i < count; i++) out.push(generators[i % generators.length]!());
  return out;
}

async function send(url: string, r: FuzzRequest): Promise<{ status: number; text: string; contentType: string }> {
  const abort = new AbortController();
  const res = await fetch(url + r.path, { method: r.method, headers: r.headers, body: r.body, signal: abort.signal });
  const contentType = res.headers.get('content-type') ?? '';
  if (contentType.includes('text/event-stream')) {
    abort.abort();
    return { status: res.status, text: '', contentType };
  }
  return { status: res.status, text: await res.text(), contentType };
}

async function rawHttp(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => resolve(data));
    socket.on('close', () => resolve(data));
    socket.write(payload);
    setTimeout(() => socket.end(), 300);
  });
}

async function fuzz(api: ApiHarness, seed: number, count: number): Promise<Map<number, number>> {
  const requests = generate(seed, count, api.tokens);
  const statuses = new Map<number, number>();
  for (let i = 0; i < requests.length; i += 16) {
    const batch = requests.slice(i, i + 16);
    const results = await Promise.all(batch.map((r) => send(api.url, r)));
    results.forEach((res, j) => {
      const r = batch[j]!;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const label = `#${i + j} ${r.what}: ${r.method} ${r.path.slice(0, 80)} -> ${res.status} ${res.text.slice(0, 200)}`;
      expect(res.status, label).toBeLessThan(500);
      if (res.status >= 400 && res.contentType.includes('application/json')) {
        const e = expectErrorShape(JSON.parse(res.text));
        expect(e.message.length, label).toBeLessThan(600);
        expect(res.text.length, label).toBeLessThan(2000);
      }
    });
  }
  return statuses;
}

async function stillHealthy(api: ApiHarness): Promise<void> {
  expect((await api.request('GET', '/healthz', { token: null })).status).toBe(200);
  const post = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.123.45', reason: 'after fuzz' } });
  expect(post.status).toBeLessThan(300);
  const check = await api.request('GET', '/v1/check?ip=198.18.123.45');
  expect(check.json).toMatchObject({ verdict: 'block', entry: { reason: 'after fuzz' } });
}

describe('fuzz: Redis mode', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startRedisApi();
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
  });

  test('1,350 generated malformed requests: no 5xx, one error shape, server healthy after', async () => {
    const statuses = await fuzz(api, 20261123, 1350);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(1350);
    // Most are refused as they should be (4xx), not accepted.
    const fourXX = [...statuses.entries()].filter(([s]) => s >= 400 && s < 500).reduce((a, [, n]) => a + n, 0);
    expect(fourXX).toBeGreaterThan(1000);
    await stillHealthy(api);
  }, 180_000);

  test('raw HTTP garbage is answered (4xx) or dropped, never crashes the server', async () => {
    const port = Number(new URL(api.url).port);
    const payloads = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      `GET /v1/check?ip=${'1'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'POST /v1/blocks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{"ind',
      'POST /v1/blocks HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /v1/blocks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      '\u0000\u0001\u0002\r\n\r\n',
    ];
    for (const p of payloads) {
      const answer = await rawHttp(port, p);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      if (status !== undefined) expect(Number(status), p.slice(0, 40)).toBeLessThan(500);
    }
    await stillHealthy(api);
  }, 60_000);
});

describe('fuzz: single-box mode', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startSingleBoxApi();
  });
  afterAll(async () => {
    await api?.stop();
  });

  test('1,080 generated malformed requests: no 5xx, server healthy after', async () => {
    await fuzz(api, 7, 1080);
    await stillHealthy(api);
  }, 180_000);
});
