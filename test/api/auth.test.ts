/**
 * The auth matrix over real HTTP against a real Redis: every route × no token, malformed token, unknown token,
 * revoked token, and each scope. Only /healthz and /readyz answer without a token; a lower scope gets 403; the
 * token itself is never stored, only its SHA-256.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisTokenStore } from '../../src/api/auth/redis-token-store.js';
import { apiPrefixFor, apiKeys } from '../../src/api/keys.js';
import type { Scope } from '../../src/api/auth/scopes.js';
import { eventually, expectErrorShape, startRedisApi, type ApiHarness } from './harness.js';

let api: ApiHarness;
let revoked: string;

beforeAll(async () => {
  api = await startRedisApi();
  revoked = await api.newToken('soon-revoked', 'admin');
  const r = await api.request('DELETE', '/v1/tokens/soon-revoked');
  expect(r.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await api?.stop();
});

type RouteCase = { method: string; path: string; needs: Scope; body?: unknown; raw?: string; contentType?: string; stream?: boolean };

let n = 0;
const unique = (): string => `198.18.${100 + (n >> 8)}.${n++ & 255}`;

const ROUTES: (() => RouteCase)[] = [
  () => ({ method: 'GET', path: '/v1/check?ip=198.18.0.1', needs: 'read' }),
  () => ({ method: 'GET', path: '/v1/status', needs: 'read' }),
  () => ({ method: 'GET', path: '/v1/blocks', needs: 'read' }),
  () => ({ method: 'GET', path: '/v1/blocks/198.18.0.1', needs: 'read' }),
  () => ({ method: 'POST', path: '/v1/blocks', needs: 'write', body: { indicator: unique() } }),
  () => ({ method: 'POST', path: '/v1/blocks/bulk', needs: 'write', raw: `{"indicator":"${unique()}"}\n`, contentType: 'application/x-ndjson' }),
  () => ({ method: 'DELETE', path: '/v1/blocks/198.18.250.1', needs: 'write' }),
  () => ({ method: 'DELETE', path: '/v1/blocks?indicator=198.18.250.1', needs: 'write' }),
  () => ({ method: 'GET', path: '/v1/allowlist', needs: 'read' }),
  () => ({ method: 'GET', path: '/v1/allowlist/198.18.0.1', needs: 'read' }),
  () => ({ method: 'POST', path: '/v1/allowlist', needs: 'write', body: { indicator: unique() } }),
  () => ({ method: 'DELETE', path: '/v1/allowlist/198.18.250.1', needs: 'write' }),
  () => ({ method: 'DELETE', path: '/v1/allowlist?indicator=198.18.250.1', needs: 'write' }),
  () => ({ method: 'GET', path: '/v1/enforcement', needs: 'read' }),
  () => ({ method: 'PUT', path: '/v1/enforcement', needs: 'admin', body: { mode: 'enforce' } }),
  () => ({ method: 'GET', path: '/v1/sensors', needs: 'read' }),
  () => ({ method: 'GET', path: '/v1/events', needs: 'read' }),
  () => ({ method: 'GET', path: '/v1/events/stream', needs: 'read', stream: true }),
  () => ({ method: 'GET', path: '/v1/audit', needs: 'admin' }),
  () => ({ method: 'GET', path: '/v1/tokens', needs: 'admin' }),
  () => ({ method: 'POST', path: '/v1/tokens', needs: 'admin', body: { name: `t${n++}`, scope: 'read' } }),
  () => ({ method: 'DELETE', path: '/v1/tokens/no-such-token', needs: 'admin' }),
  () => ({ method: 'GET', path: '/docs/json', needs: 'read' }),
  () => ({ method: 'GET', path: '/docs', needs: 'read' }),
  () => ({ method: 'GET', path: '/no/such/route', needs: 'read' }),
];

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

async function call(c: RouteCase, authorization: string | null): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = authorization;
  let body: string | undefined;
  if (c.raw !== undefined) {
    body = c.raw;
    headers['content-type'] = c.contentType!;
  } else if (c.body !== undefined) {
    body = JSON.stringify(c.body);
    headers['content-type'] = 'application/json';
  }
  const abort = new AbortController();
  const r = await fetch(api.url + c.path, { method: c.method, headers, body, signal: abort.signal });
  if (c.stream && r.status === 200) {
    abort.abort();
    return { status: r.status, body: null, headers: r.headers };
  }
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // HTML (docs) or NDJSON (bulk)
  }
  return { status: r.status, body: parsed, headers: r.headers };
}

describe('auth matrix', () => {
  test('health endpoints answer without a token', async () => {
    expect((await api.request('GET', '/healthz', { token: null })).json).toEqual({ status: 'ok' });
    const ready = await api.request('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready' });
  });

  test.each(ROUTES.map((make, i) => [i, make().method, make().path, make] as const))('route %i: %s %s', async (_i, _m, _p, make) => {
    const bad: [string, string | null, string][] = [
      ['no token', null, 'unauthorized'],
      ['not bearer', `Basic ${Buffer.from('admin:admin').toString('base64')}`, 'invalid_token'],
      ['malformed', 'Bearer not-a-token', 'invalid_token'],
      ['unknown', `Bearer opk_0123456789abcdef_${'A'.repeat(43)}`, 'invalid_token'],
      ['wrong secret', `Bearer ${api.tokens.admin.slice(0, -4)}AAAA`, 'invalid_token'],
      ['revoked', `Bearer ${revoked}`, 'token_revoked'],
    ];
    for (const [what, authorization, code] of bad) {
      const r = await call(make(), authorization);
      expect(r.status, what).toBe(401);
      expect(expectErrorShape(r.body).code, what).toBe(code);
      expect(r.headers.get('www-authenticate'), what).toMatch(/^Bearer/);
    }
    for (const scope of ['read', 'write', 'admin'] as Scope[]) {
      const c = make();
      const r = await call(c, `Bearer ${api.tokens[scope]}`);
      if (RANK[scope] < RANK[c.needs]) {
        expect(r.status, `${scope} on ${c.method} ${c.path}`).toBe(403);
        expect(expectErrorShape(r.body).code).toBe('forbidden');
      } else {
        expect([401, 403], `${scope} on ${c.method} ${c.path}: ${JSON.stringify(r.body).slice(0, 200)}`).not.toContain(r.status);
        expect(r.status).toBeLessThan(500);
      }
    }
  }, 30_000);

  test('a refused change is audited as denied', async () => {
    await api.request('POST', '/v1/blocks', { token: api.tokens.read, body: { indicator: '198.18.77.1' } });
    const audit = await api.request('GET', '/v1/audit?limit=1000');
    const denied = (audit.json.records as { action: string; outcome: string; actor: string; status: number }[]).filter((r) => r.outcome === 'denied');
    expect(denied).toContainEqual(expect.objectContaining({ action: 'block.upsert', actor: 'reader', status: 403 }));
  });
});

describe('tokens', () => {
  test('only the SHA-256 of a token is stored in Redis', async () => {
    const all = await api.client!.hgetall(apiKeys(apiPrefixFor(undefined)).tokens);
    const stored = Object.values(all).join('\n');
    for (const token of Object.values(api.tokens)) {
      const secret = token.slice(token.indexOf('_', 4) + 1);
      expect(secret).toHaveLength(43);
      expect(stored).not.toContain(secret);
      expect(stored).toContain(createHash('sha256').update(token).digest('hex'));
    }
  });

  test('a token created through the API works once, with its scope; revoking it through the API refuses it at once', async () => {
    const created = await api.request('POST', '/v1/tokens', { body: { name: 'soar', scope: 'write' } });
    expect(created.status).toBe(201);
    const token = created.json.token as string;
    expect(token).toMatch(/^opk_[0-9a-f]{16}_/);
    expect(JSON.stringify((await api.request('GET', '/v1/tokens')).json)).not.toContain(token.slice(token.indexOf('_', 4) + 1));
    expect((await api.request('POST', '/v1/blocks', { token, body: { indicator: '198.18.66.1' } })).status).toBe(201);
    expect((await api.request('PUT', '/v1/enforcement', { token, body: { mode: 'enforce' } })).status).toBe(403);
    const dup = await api.request('POST', '/v1/tokens', { body: { name: 'soar', scope: 'read' } });
    expect(dup.status).toBe(409);
    expect(expectErrorShape(dup.json).field).toBe('name');
    expect((await api.request('DELETE', '/v1/tokens/soar')).status).toBe(200);
    const after = await api.request('GET', '/v1/check?ip=198.18.66.1', { token });
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('token_revoked');
  });

  test('a token revoked by another process (the CLI) is refused once the change reaches the API', async () => {
    const token = await api.newToken('other-process', 'read');
    expect((await api.request('GET', '/v1/status', { token })).status).toBe(200);
    const cli = new RedisTokenStore({ redis: api.client!, keyPrefix: apiPrefixFor(undefined), follow: false });
    expect(await cli.revoke('other-process', 'cli:test')).not.toBeNull();
    await eventually(async () => (await api.request('GET', '/v1/status', { token })).status === 401, 10_000, 'revocation to reach the API');
  });

  test('per-token rate limit: 429 with Retry-After, other tokens unaffected', async () => {
    const token = await api.newToken('slow', 'read', 1);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 10; i++) {
      const r = await api.request('GET', '/v1/enforcement', { token });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        expect(expectErrorShape(r.json).code).toBe('rate_limited');
      }
    }
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await api.request('GET', '/v1/enforcement', { token: api.tokens.read })).status).toBe(200);
  });
});
