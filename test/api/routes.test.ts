/**
 * The endpoints over real HTTP against a real Redis: blocks (idempotent upsert, get, list with filters and
 * cursors, delete by id and by indicator), the allowlist (allow wins in check, 409 on identity clashes), check
 * (port, protocol, peer, IPv6), bulk NDJSON, and the error body on bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectErrorShape, startRedisApi, type ApiHarness } from './harness.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startRedisApi();
}, 60_000);

afterAll(async () => {
  await api?.stop();
});

describe('blocks', () => {
  test('create is 201, the same indicator again is 200 (one entry, updated)', async () => {
    const first = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.1.1', ttl: '2h', reason: 'c2 beacon', tags: ['apt', 'c2'] } });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ created: true, applied: true, entry: { id: '198.18.1.1', source: 'api', indicator: '198.18.1.1', kind: 'ipv4', action: 'block', reason: 'c2 beacon', tags: ['apt', 'c2'] } });
    expect(Date.parse(first.json.entry.expiresAt) / 1000 - Date.now() / 1000).toBeGreaterThan(7000);
    const again = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.1.1', action: 'monitor', reason: 'demoted' } });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ created: false, entry: { action: 'monitor', reason: 'demoted', expiresAt: null } });
    const list = await api.request('GET', '/v1/blocks?source=api');
    expect(list.json.entries.filter((e: { indicator: string }) => e.indicator === '198.18.1.1')).toHaveLength(1);
  });

  test('indicators are stored canonical: IPv6, CIDR, ip:port', async () => {
    const v6 = await api.request('POST', '/v1/blocks', { body: { indicator: '2001:2:0:0::0:1' } });
    expect(v6.json.entry).toMatchObject({ indicator: '2001:2::1', kind: 'ipv6' });
    const cidr = await api.request('POST', '/v1/blocks', { body: { indicator: '198.19.0.0/24' } });
    expect(cidr.json.entry).toMatchObject({ indicator: '198.19.0.0/24', kind: 'cidr4' });
    const port = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.2.2:443/TCP' } });
    expect(port.json.entry).toMatchObject({ indicator: '198.18.2.2:443/tcp', kind: 'ip-port' });
  });

  test('get one by id (URL-encoded) and source; 404 otherwise', async () => {
    const r = await api.request('GET', `/v1/blocks/${encodeURIComponent('198.19.0.0/24')}`);
    expect(r.status).toBe(200);
    expect(r.json.entry.indicator).toBe('198.19.0.0/24');
    const missing = await api.request('GET', '/v1/blocks/198.18.99.99');
    expect(missing.status).toBe(404);
    expect(expectErrorShape(missing.json).code).toBe('not_found');
    expect((await api.request('GET', '/v1/blocks/198.19.0.0%2F24?source=elsewhere')).status).toBe(404);
  });

  test('list: filters (kind, action, source, tag, expiringBefore) and cursor pagination over every entry', async () => {
    const bulk = Array.from({ length: 250 }, (_, i) => JSON.stringify({ indicator: `198.18.${10 + (i >> 8)}.${i & 255}`, source: 'feed-a', tags: i % 2 ? ['odd'] : ['even'], ...(i < 50 ? { ttl: 600 } : {}) })).join('\n');
    const b = await api.request('POST', '/v1/blocks/bulk', { raw: bulk, headers: { 'content-type': 'application/x-ndjson' } });
    expect(b.status).toBe(200);
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { json: { entries: { indicator: string; source: string }[]; nextCursor: string | null } } = await api.request('GET', `/v1/blocks?source=feed-a&limit=40${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      for (const e of page.json.entries) {
        expect(e.source).toBe('feed-a');
        expect(seen.has(e.indicator)).toBe(false);
        seen.add(e.indicator);
      }
      cursor = page.json.nextCursor;
      pages++;
    } while (cursor !== null && pages < 100);
    expect(seen.size).toBe(250);
    const odd = await api.request('GET', '/v1/blocks?source=feed-a&tag=odd&limit=1000');
    expect(odd.json.entries).toHaveLength(125);
    const soon = new Date(Date.now() + 3600_000).toISOString();
    const expiring = await api.request('GET', `/v1/blocks?source=feed-a&expiringBefore=${soon}&limit=1000`);
    expect(expiring.json.entries).toHaveLength(50);
    const cidrs = await api.request('GET', '/v1/blocks?kind=cidr4&limit=1000');
    expect(cidrs.json.entries.map((e: { indicator: string }) => e.indicator)).toEqual(['198.19.0.0/24']);
    const monitors = await api.request('GET', '/v1/blocks?action=monitor&limit=1000');
    expect(monitors.json.entries.map((e: { indicator: string }) => e.indicator)).toEqual(['198.18.1.1']);
    const bad = await api.request('GET', '/v1/blocks?cursor=garbage');
    expect(bad.status).toBe(400);
    expect(expectErrorShape(bad.json)).toMatchObject({ code: 'invalid_cursor', field: 'cursor' });
  });

  test('delete by id, and by indicator across sources', async () => {
    await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.3.3', source: 'feed-b' } });
    await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.3.3', source: 'feed-c' } });
    await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.3.4' } });
    const one = await api.request('DELETE', '/v1/blocks/198.18.3.4');
    expect(one.status).toBe(200);
    expect(one.json.removed).toHaveLength(1);
    expect((await api.request('DELETE', '/v1/blocks/198.18.3.4')).status).toBe(404);
    const both = await api.request('DELETE', '/v1/blocks?indicator=198.18.3.3');
    expect(both.json.removed.map((e: { source: string }) => e.source).sort()).toEqual(['feed-b', 'feed-c']);
    expect((await api.request('DELETE', '/v1/blocks?indicator=198.18.3.3')).status).toBe(404);
    const check = await api.request('GET', '/v1/check?ip=198.18.3.3');
    expect(check.json.verdict).toBe('none');
  });
});

describe('allowlist and check', () => {
  test('check: the deciding entry, port and protocol, allow wins, peer decides a session', async () => {
    await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.20.0/24', reason: 'bad range' } });
    let r = await api.request('GET', '/v1/check?ip=198.18.20.7');
    expect(r.json).toMatchObject({ verdict: 'block', effect: 'reset', enforcement: 'enforce', matched: 'ip', entry: { indicator: '198.18.20.0/24' } });
    await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.20.7:53/udp', action: 'monitor' } });
    r = await api.request('GET', '/v1/check?ip=198.18.20.7&port=53&protocol=udp');
    expect(r.json).toMatchObject({ verdict: 'monitor', effect: 'alert', entry: { indicator: '198.18.20.7:53/udp' } });
    r = await api.request('GET', '/v1/check?ip=198.18.20.7&port=53&protocol=tcp');
    expect(r.json.entry.indicator).toBe('198.18.20.0/24');
    const allow = await api.request('POST', '/v1/allowlist', { body: { indicator: '198.18.20.7', reason: 'our DNS' } });
    expect(allow.status).toBe(201);
    r = await api.request('GET', '/v1/check?ip=198.18.20.7&port=53&protocol=udp');
    expect(r.json).toMatchObject({ verdict: 'allow', effect: 'none', entry: { action: 'allow', indicator: '198.18.20.7' } });
    // A session between a blocked address and an allowed one is not reset.
    r = await api.request('GET', '/v1/check?ip=198.18.20.9&peer=198.18.20.7');
    expect(r.json).toMatchObject({ verdict: 'allow', matched: 'peer' });
    r = await api.request('GET', '/v1/check?ip=198.18.30.1&peer=198.18.20.9');
    expect(r.json).toMatchObject({ verdict: 'block', matched: 'peer' });
    r = await api.request('GET', '/v1/check?ip=[2001:2::1]');
    expect(r.json).toMatchObject({ verdict: 'block', entry: { indicator: '2001:2::1' } });
    r = await api.request('GET', '/v1/check?ip=198.18.250.250');
    expect(r.json).toMatchObject({ verdict: 'none', effect: 'none', matched: null, entry: null });
  });

  test('block and allow never replace each other: 409 on the same source and id', async () => {
    const clash = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.20.7' } });
    expect(clash.status).toBe(409);
    expect(expectErrorShape(clash.json)).toMatchObject({ code: 'conflict', field: 'indicator' });
    const clash2 = await api.request('POST', '/v1/allowlist', { body: { indicator: '198.18.20.0/24' } });
    expect(clash2.status).toBe(409);
    // Blocks never show allow entries and the allowlist never shows blocks.
    expect((await api.request('GET', '/v1/blocks/198.18.20.7')).status).toBe(404);
    expect((await api.request('GET', '/v1/allowlist/198.18.20.7')).json.entry.action).toBe('allow');
    expect((await api.request('DELETE', '/v1/blocks/198.18.20.7')).status).toBe(404);
    const list = await api.request('GET', '/v1/allowlist?limit=1000');
    expect(list.json.entries.every((e: { action: string }) => e.action === 'allow')).toBe(true);
    const del = await api.request('DELETE', '/v1/allowlist?indicator=198.18.20.7');
    expect(del.status).toBe(200);
    expect((await api.request('GET', '/v1/check?ip=198.18.20.7&port=53&protocol=udp')).json.verdict).toBe('monitor');
  });

  test('over-broad blocks need force and an admin token', async () => {
    const plain = await api.request('POST', '/v1/blocks', { body: { indicator: '198.0.0.0/8' } });
    expect(plain.status).toBe(400);
    expect(expectErrorShape(plain.json)).toMatchObject({ code: 'over_broad', field: 'indicator' });
    const writer = await api.request('POST', '/v1/blocks', { token: api.tokens.write, body: { indicator: '198.0.0.0/8', force: true } });
    expect(writer.status).toBe(403);
    const admin = await api.request('POST', '/v1/blocks', { body: { indicator: '198.0.0.0/8', force: true, action: 'monitor' } });
    expect(admin.status).toBe(201);
    // Monitor is not policed (it only alerts), but force is harmless.
    expect((await api.request('DELETE', '/v1/blocks/198.0.0.0%2F8')).status).toBe(200);
  });
});

describe('bad input', () => {
  test.each([
    [{ indicator: '198.18.0.256' }, 'invalid_indicator', 'indicator'],
    [{ indicator: 'http://example.com/x' }, 'invalid_indicator', 'indicator'],
    [{ indicator: '198.18.0.5/24' }, 'invalid_indicator', 'indicator'],
    [{ indicator: 42 }, 'invalid_indicator', 'indicator'],
    [{}, 'missing_field', 'indicator'],
    [{ indicator: '198.18.0.5', ttl: 0 }, 'invalid_ttl', 'ttl'],
    [{ indicator: '198.18.0.5', ttl: '3 days' }, 'invalid_ttl', 'ttl'],
    [{ indicator: '198.18.0.5', ttl: 1e12 }, 'invalid_ttl', 'ttl'],
    [{ indicator: '198.18.0.5', ttl: 3.5 }, 'invalid_ttl', 'ttl'],
    [{ indicator: '198.18.0.5', ttl: 60, expires: '2099-01-01T00:00:00Z' }, 'invalid_ttl', 'ttl'],
    [{ indicator: '198.18.0.5', expires: '2001-01-01T00:00:00Z' }, 'invalid_expires', 'expires'],
    [{ indicator: '198.18.0.5', expires: '2h' }, 'invalid_expires', 'expires'],
    [{ indicator: '198.18.0.5', expires: '2030-02-30' }, 'invalid_expires', 'expires'],
    [{ indicator: '198.18.0.5', action: 'allow' }, 'invalid_action', 'action'],
    [{ indicator: '198.18.0.5', tags: 'a;b' }, 'invalid_tags', 'tags'],
    [{ indicator: '198.18.0.5', tags: [1] }, 'invalid_tags', 'tags[0]'],
    [{ indicator: '198.18.0.5', reason: 'x'.repeat(2000) }, 'invalid_field', 'reason'],
    [{ indicator: '198.18.0.5', reason: 'line\nbreak' }, 'invalid_reason', 'reason'],
    [{ indicator: '198.18.0.5', colour: 'red' }, 'unknown_field', 'colour'],
    [{ indicator: '198.18.0.5', source: '\ud800' }, 'invalid_source', 'source'],
    [{ indicator: '198.18.0.5', tags: ['ok', 'x\udc00'] }, 'invalid_tags', 'tags[1]'],
    [{ indicator: '198.18.0.5', reason: 'a\ud83d' }, 'invalid_reason', 'reason'],
    [{ indicator: '198.18.0.5', __proto__x: 1 }, 'unknown_field', '__proto__x'],
  ])('POST /v1/blocks %j -> 400 %s naming %s', async (body, code, field) => {
    const r = await api.request('POST', '/v1/blocks', { body });
    expect(r.status).toBe(400);
    expect(expectErrorShape(r.json)).toMatchObject({ code, field });
    expect(r.json.error.message).toContain(field.replace(/\[.*$/, ''));
    expect(r.text.length).toBeLessThan(1000);
  });

  test('bad JSON, wrong content type, body too large, unknown route, wrong method, bad query', async () => {
    const cases: [string, string, { raw?: string; headers?: Record<string, string>; body?: unknown }, number, string][] = [
      ['POST', '/v1/blocks', { raw: '{"indicator":', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
      ['POST', '/v1/blocks', { raw: '[]', headers: { 'content-type': 'application/json' } }, 400, 'invalid_request'],
      ['POST', '/v1/blocks', { raw: '{"__proto__":{"x":1},"indicator":"198.18.0.1"}', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json'],
      ['POST', '/v1/blocks', { raw: 'indicator=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type'],
      ['POST', '/v1/blocks', { raw: JSON.stringify({ indicator: '198.18.0.1', reason: 'x'.repeat(2 << 20) }), headers: { 'content-type': 'application/json' } }, 413, 'payload_too_large'],
      ['GET', '/v1/nothing', {}, 404, 'not_found'],
      ['PATCH', '/v1/blocks', {}, 405, 'method_not_allowed'],
      ['GET', '/v1/check', {}, 400, 'missing_field'],
      ['GET', '/v1/check?ip=not-an-ip', {}, 400, 'invalid_ip'],
      ['GET', '/v1/check?ip=198.18.0.1&port=70000', {}, 400, 'invalid_port'],
      ['GET', '/v1/check?ip=198.18.0.1&protocol=sctp', {}, 400, 'invalid_field'],
      ['GET', '/v1/check?ip=198.18.0.1&ip=198.18.0.2', {}, 400, 'invalid_field'],
      ['GET', '/v1/blocks?limit=0', {}, 400, 'invalid_field'],
      ['GET', '/v1/blocks?limit=-1', {}, 400, 'invalid_field'],
      ['GET', '/v1/blocks?expiringBefore=tomorrow', {}, 400, 'invalid_field'],
      ['GET', '/v1/events?cursor=abc', {}, 400, 'invalid_cursor'],
      ['GET', '/v1/audit?since=yesterday', {}, 400, 'invalid_field'],
      ['GET', '/v1/blocks/%E0%A4%A', {}, 400, 'invalid_url'],
      ['PUT', '/v1/enforcement', { body: { mode: 'off' } }, 400, 'invalid_field'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const r = await api.request(method, path, options);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(expectErrorShape(r.json).code, `${method} ${path}`).toBe(code);
    }
    const notAnIp = await api.request('GET', '/v1/check?ip=not-an-ip');
    expect(notAnIp.json.error.field).toBe('ip');
    const allowHeader = await api.request('PATCH', '/v1/blocks');
    expect(allowHeader.headers.get('allow')).toContain('POST');
  });
});

describe('bulk', () => {
  test('NDJSON in, one result per line out, then a summary; bad lines do not stop the import', async () => {
    const lines = [
      JSON.stringify({ indicator: '198.18.40.1', reason: 'bulk' }),
      '',
      'not json',
      JSON.stringify({ indicator: '198.18.40.2', action: 'monitor', ttl: '1d' }),
      JSON.stringify({ indicator: 'bad..name' }),
      JSON.stringify({ indicator: '198.18.40.3', colour: 1 }),
      JSON.stringify({ indicator: '10.0.0.0/8' }),
      JSON.stringify({ indicator: '198.18.40.1', reason: 'again' }),
      JSON.stringify([1, 2]),
      '{"indicator":"198.18.40.4"}\r',
      JSON.stringify({ indicator: '198.18.40.9' }),
    ];
    expect((await api.request('POST', '/v1/allowlist', { body: { indicator: '198.18.40.9' } })).status).toBe(201);
    const r = await api.request('POST', '/v1/blocks/bulk?results=full', { raw: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('application/x-ndjson');
    const out = r.text.trim().split('\n').map((l) => JSON.parse(l));
    const summary = out.pop().summary;
    expect(summary).toMatchObject({ lines: 11, created: 3, updated: 1, failed: 6, complete: true, applied: true });
    const byLine = new Map(out.map((o) => [o.line, o]));
    expect(byLine.get(1)).toMatchObject({ ok: true, status: 'created', indicator: '198.18.40.1' });
    expect(byLine.has(2)).toBe(false);
    expect(byLine.get(3).error.code).toBe('invalid_json');
    expect(byLine.get(5).error).toMatchObject({ code: 'invalid_indicator', field: 'indicator' });
    expect(byLine.get(6).error).toMatchObject({ code: 'unknown_field', field: 'colour' });
    expect(byLine.get(7).error.code).toBe('over_broad');
    expect(byLine.get(8)).toMatchObject({ ok: true, status: 'updated' });
    expect(byLine.get(9).error.code).toBe('invalid_request');
    expect(byLine.get(10)).toMatchObject({ ok: true, indicator: '198.18.40.4' });
    expect(byLine.get(11).error).toMatchObject({ code: 'conflict', field: 'indicator' });
    expect((await api.request('GET', '/v1/check?ip=198.18.40.2')).json.verdict).toBe('monitor');
    const errorsOnly = await api.request('POST', '/v1/blocks/bulk?results=errors', { raw: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
    const eo = errorsOnly.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(eo.filter((o) => o.ok === true)).toHaveLength(0);
    expect(eo).toHaveLength(7);
    const compact = await api.request('POST', '/v1/blocks/bulk', { raw: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
    const co = compact.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(co).toHaveLength(11); // 10 non-blank lines and the summary
    expect(co[0]).toEqual({ line: 1, ok: true, status: 'updated' });
  });

  test('a line longer than the limit is refused on its own; JSON instead of NDJSON is a 415', async () => {
    const long = JSON.stringify({ indicator: '198.18.41.1', reason: 'x'.repeat(70_000) });
    const r = await api.request('POST', '/v1/blocks/bulk', { raw: `${long}\n{"indicator":"198.18.41.2"}\n`, headers: { 'content-type': 'application/x-ndjson' } });
    const out = r.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(out[0]).toMatchObject({ line: 1, ok: false, error: { code: 'line_too_long' } });
    expect(out[1]).toMatchObject({ line: 2, ok: true });
    const json = await api.request('POST', '/v1/blocks/bulk', { body: { indicator: '198.18.41.3' } });
    expect(json.status).toBe(415);
    expectErrorShape(json.json);
  });

  test('10,000 lines in one request, streamed; all applied to the matcher', async () => {
    const body = Array.from({ length: 10_000 }, (_, i) => `{"indicator":"198.19.${100 + (i >> 8)}.${i & 255}","source":"bulk-10k"}`).join('\n');
    const r = await api.request('POST', '/v1/blocks/bulk?results=errors', { raw: body, headers: { 'content-type': 'application/x-ndjson' } });
    const out = r.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(out).toHaveLength(1);
    expect(out[0].summary).toMatchObject({ lines: 10_000, created: 10_000, failed: 0, complete: true });
    const last = await api.redisDeps!.sync.waitForVersion(out[0].summary.version, 10_000);
    expect(last).toBe(true);
    expect((await api.request('GET', '/v1/check?ip=198.19.139.15')).json.entry.source).toBe('bulk-10k');
  });
});

describe('OpenAPI', () => {
  test('the document covers every route', async () => {
    const doc = (await api.request('GET', '/docs/json')).json as { openapi: string; paths: Record<string, Record<string, { summary?: string; responses?: object }>>; components: object };
    expect(doc.openapi).toMatch(/^3\./);
    const documented = new Set<string>();
    for (const [path, methods] of Object.entries(doc.paths)) for (const m of Object.keys(methods)) documented.add(`${m.toUpperCase()} ${path}`);
    const expected = [
      'GET /healthz', 'GET /readyz', 'GET /v1/status', 'GET /v1/check',
      'POST /v1/blocks', 'GET /v1/blocks', 'DELETE /v1/blocks', 'GET /v1/blocks/{id}', 'DELETE /v1/blocks/{id}', 'POST /v1/blocks/bulk',
      'POST /v1/allowlist', 'GET /v1/allowlist', 'DELETE /v1/allowlist', 'GET /v1/allowlist/{id}', 'DELETE /v1/allowlist/{id}',
      'GET /v1/enforcement', 'PUT /v1/enforcement', 'GET /v1/sensors', 'GET /v1/events', 'GET /v1/events/stream',
      'GET /v1/audit', 'GET /v1/tokens', 'POST /v1/tokens', 'DELETE /v1/tokens/{id}',
    ];
    for (const route of expected) expect(documented, route).toContain(route);
    // and nothing undocumented is served: every /v1 route Fastify knows is in the document
    const served = api.server.printRoutes({ commonPrefix: false });
    expect(served).toContain('/v1/check');
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const op of Object.values(methods)) expect(op.summary, path).toBeTruthy();
    }
    expect(JSON.stringify(doc.components)).toContain('ErrorBody');
  });
});
