/**
 * End to end: a block POSTed to the API reaches a sensor's matcher. The "sensor" here is what `offpath sensor
 * --redis` runs for its intel: a RedisIntelSync keeping its own IntelSet in step with Redis, matched with
 * matchV4/matchV6 exactly as the packet path does. (The time it takes is measured in `npm run bench`, part api:
 * no timed assertion here.) Also: the audit trail records every change, with who, what and from where.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IntelSet } from '../../src/intel/intel-set.js';
import { RedisIntelSync } from '../../src/intel/redis/intel-sync.js';
import { parseIPv4 } from '../../src/net/address.js';
import { eventually, startRedisApi, startSingleBoxApi, type ApiHarness } from './harness.js';

let api: ApiHarness;
let sensorSet: IntelSet;
let sensorSync: RedisIntelSync;

beforeAll(async () => {
  api = await startRedisApi();
  sensorSet = new IntelSet();
  sensorSync = new RedisIntelSync({ redis: { url: api.redis!.url }, set: sensorSet });
  const status = await sensorSync.start();
  expect(status.state).toBe('live');
}, 60_000);

afterAll(async () => {
  await sensorSync?.close();
  await api?.stop();
});

const match = (set: IntelSet, ip: string, port = 0, proto = 0): string | null => {
  const h = set.matchV4(parseIPv4(ip), port, proto);
  return h < 0 ? null : `${set.actionOf(h)} ${set.indicatorOf(h)}`;
};

describe('POST a block -> a sensor enforces it', () => {
  test('block, port-qualified monitor, allowlist and delete all reach the sensor set', async () => {
    expect(match(sensorSet, '198.18.60.1')).toBeNull();
    const posted = await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.60.1', reason: 'ransomware c2' } });
    expect(posted.status).toBe(201);
    await eventually(() => match(sensorSet, '198.18.60.1') === 'block 198.18.60.1', 10_000, 'sensor to apply the block');
    const h = sensorSet.matchV4(parseIPv4('198.18.60.1'));
    expect(sensorSet.entry(h)).toMatchObject({ source: 'api', reason: 'ransomware c2' });

    await api.request('POST', '/v1/blocks', { body: { indicator: '198.18.60.2:8443/tcp', action: 'monitor' } });
    await eventually(() => match(sensorSet, '198.18.60.2', 8443, 6) === 'monitor 198.18.60.2:8443/tcp', 10_000, 'monitor entry');
    expect(match(sensorSet, '198.18.60.2', 8443, 17)).toBeNull();

    await api.request('POST', '/v1/allowlist', { body: { indicator: '198.18.60.0/30', reason: 'partner' } });
    await eventually(() => match(sensorSet, '198.18.60.1') === 'allow 198.18.60.0/30', 10_000, 'allow to win on the sensor');

    await api.request('DELETE', '/v1/allowlist?indicator=198.18.60.0/30');
    await eventually(() => match(sensorSet, '198.18.60.1') === 'block 198.18.60.1', 10_000, 'block back');
    await api.request('DELETE', '/v1/blocks/198.18.60.1');
    await eventually(() => match(sensorSet, '198.18.60.1') === null, 10_000, 'unblock on the sensor');
    // The sensor and the API's own matcher hold the same content.
    await eventually(() => sensorSync.status().versionApplied === api.redisDeps!.sync.status().versionApplied, 10_000, 'same version');
    expect(sensorSet.digest()).toBe(api.set.digest());
  });

  test('a bulk import reaches the sensor whole', async () => {
    const body = Array.from({ length: 2000 }, (_, i) => `{"indicator":"198.19.${200 + (i >> 8)}.${i & 255}","source":"bulk-e2e"}`).join('\n');
    const r = await api.request('POST', '/v1/blocks/bulk?results=errors', { raw: body, headers: { 'content-type': 'application/x-ndjson' } });
    const summary = JSON.parse(r.text.trim()).summary;
    expect(summary).toMatchObject({ created: 2000, failed: 0 });
    expect(await sensorSync.waitForVersion(summary.version, 10_000)).toBe(true);
    for (let i = 0; i < 2000; i += 97) expect(match(sensorSet, `198.19.${200 + (i >> 8)}.${i & 255}`)).not.toBeNull();
  });
});

describe('audit trail', () => {
  test('records every change with actor, time, address, route and target, in order', async () => {
    const start = (await api.request('GET', '/v1/audit?limit=1')).json.nextCursor as string | null;
    const writer = api.tokens.write;
    const steps: [string, string, unknown, string][] = [
      ['POST', '/v1/blocks', { indicator: '198.18.61.1', ttl: 60 }, 'block.upsert'],
      ['POST', '/v1/blocks', { indicator: '198.18.61.1', ttl: 120 }, 'block.upsert'],
      ['POST', '/v1/allowlist', { indicator: '198.18.61.2' }, 'allow.upsert'],
      ['DELETE', '/v1/allowlist/198.18.61.2', undefined, 'allow.delete'],
      ['DELETE', '/v1/blocks?indicator=198.18.61.1', undefined, 'block.delete'],
    ];
    for (const [method, path, body] of steps) {
      const r = await api.request(method, path, { token: writer, body });
      expect(r.status).toBeLessThan(300);
    }
    await api.request('POST', '/v1/blocks/bulk', { token: writer, raw: '{"indicator":"198.18.61.3"}\nbad\n', headers: { 'content-type': 'application/x-ndjson' } });
    await api.request('PUT', '/v1/enforcement', { body: { mode: 'enforce' } });
    const created = await api.request('POST', '/v1/tokens', { body: { name: 'audited', scope: 'read' } });
    await api.request('DELETE', `/v1/tokens/${created.json.info.id}`);
    // Failed attempts change nothing and are not recorded as changes.
    await api.request('POST', '/v1/blocks', { token: writer, body: { indicator: 'nope' } });
    await api.request('DELETE', '/v1/blocks/198.18.99.1', { token: writer });

    const page = await api.request('GET', `/v1/audit${start ? `?cursor=${start}` : ''}`);
    const records = page.json.records as { id: string; time: string; actor: string; tokenId: string; address: string; method: string; route: string; action: string; target: Record<string, unknown>; outcome: string; status: number }[];
    expect(records.map((r) => r.action)).toEqual([
      'block.upsert', 'block.upsert', 'allow.upsert', 'allow.delete', 'block.delete', 'bulk.import', 'enforcement.set', 'token.create', 'token.revoke',
    ]);
    for (const r of records.slice(0, 6)) {
      expect(r).toMatchObject({ actor: 'writer', address: '127.0.0.1', outcome: 'ok' });
      expect(r.tokenId).toMatch(/^[0-9a-f]{16}$/);
      expect(Date.parse(r.time)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(records[0]).toMatchObject({ method: 'POST', route: '/v1/blocks', status: 201, target: { indicator: '198.18.61.1', source: 'api', created: true } });
    expect(records[1]).toMatchObject({ status: 200, target: { created: false } });
    expect(records[3]).toMatchObject({ method: 'DELETE', route: '/v1/allowlist/:id', target: { indicator: '198.18.61.2', action: 'allow' } });
    expect(records[5]!.target).toMatchObject({ lines: 2, created: 1, failed: 1 });
    expect(records[7]).toMatchObject({ actor: 'admin', target: { name: 'audited', scope: 'read' } });
    // Ids are ordered, and `since` by time finds them too.
    const ids = records.map((r) => r.id);
    expect([...ids].sort((a, b) => (a.split('-').map(Number)[0]! - b.split('-').map(Number)[0]!) || (Number(a.split('-')[1]) - Number(b.split('-')[1])))).toEqual(ids);
    const since = await api.request('GET', `/v1/audit?since=${encodeURIComponent(records[0]!.time)}&limit=1000`);
    expect(since.json.records.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining(ids));
  });
});

describe('single-box mode', () => {
  test('the API changes the sensor\'s own set: a POST is in force for the next packet', async () => {
    const box = await startSingleBoxApi();
    try {
      const r = await box.request('POST', '/v1/blocks', { body: { indicator: '198.18.62.1' } });
      expect(r.json.applied).toBe(true);
      expect(match(box.set, '198.18.62.1')).toBe('block 198.18.62.1');
      await box.request('POST', '/v1/allowlist', { body: { indicator: '198.18.62.0/24' } });
      expect(match(box.set, '198.18.62.1')).toBe('allow 198.18.62.0/24');
      await box.request('DELETE', '/v1/allowlist/198.18.62.0%2F24');
      await box.request('DELETE', '/v1/blocks?indicator=198.18.62.1');
      expect(match(box.set, '198.18.62.1')).toBeNull();
    } finally {
      await box.stop();
    }
  });
});
