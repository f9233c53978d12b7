/**
 * Redis going away under a running API: writes answer 503 with the error shape (never a 500, never a hang), checks
 * keep answering from the API's own copy of the intel, readiness says not ready, and everything works again once
 * Redis is back.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { eventually, expectErrorShape, startRedisApi, type ApiHarness } from './harness.js';

let api: ApiHarness;

beforeAll(async () => {
  api = await startRedisApi();
}, 60_000);

afterAll(async () => {
  await api?.stop();
});

test('Redis down: 503 on writes, check still answers, readiness drops; back to normal after a restart', async () => {
  expect((await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.90.1' } })).status).toBe(201);
  await api.redis!.stop();
  const write = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.90.2' } });
  expect(write.status).toBe(503);
  expect(expectErrorShape(write.json).code).toBe('unavailable');
  expect(write.headers.get('retry-after')).toBe('1');
  const list = await api.request('GET', '/v1/blocks');
  expect(list.status).toBe(503);
  const check = await api.request('GET', '/v1/check?ip=198.18.90.1');
  expect(check.status).toBe(200);
  expect(check.json.verdict).toBe('block');
  await eventually(async () => (await api.request('GET', '/readyz', { token: null })).status === 503, 15_000, 'readiness to drop');
  // Tokens are cached: authentication keeps working while Redis is away.
  expect((await api.request('GET', '/v1/status', { token: api.tokens.read })).status).toBe(200);

  await api.redis!.restart();
  // The restarted server is empty (no persistence): tokens live in Redis, so they are gone too (a production
  // Redis keeps them with AOF or RDB). A new token works as soon as it is created; the API's set resyncs.
  const token = await eventually(async () => {
    try {
      return await api.newToken('after-restart', 'admin');
    } catch {
      return null;
    }
  }, 20_000, 'Redis to accept writes');
  await eventually(async () => (await api.request('POST', '/v1/blocks', { token, body: { indicator: '198.18.90.3' } })).status === 201, 20_000, 'writes to work again');
  await eventually(async () => (await api.request('GET', '/readyz', { token: null })).status === 200, 20_000, 'ready again');
  const after = await api.request('GET', '/v1/check?ip=198.18.90.3', { token });
  expect(after.json.verdict).toBe('block');
  expect((await api.request('GET', '/v1/check?ip=198.18.90.1', { token })).json.verdict).toBe('none');
}, 90_000);
