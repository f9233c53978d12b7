/**
 * The fleet over real Redis: sensors report through FleetClient (what `offpath sensor --redis` runs), the API
 * reads heartbeats and block events (history and live SSE) and drives the enforcement switch, which every
 * watching sensor follows.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FleetClient } from '../../src/fleet/fleet-client.js';
import { fleetPrefixFor } from '../../src/fleet/keys.js';
import type { EnforcementMode } from '../../src/fleet/types.js';
import { createRedis, type RedisClient } from '../../src/intel/redis/connection.js';
import { eventually, openSse, startRedisApi, type ApiHarness } from './harness.js';

let api: ApiHarness;
let sensorClient: RedisClient;
let sensorA: FleetClient;
let sensorB: FleetClient;

beforeAll(async () => {
  api = await startRedisApi();
  sensorClient = createRedis({ url: api.redis!.url });
  sensorClient.on('error', () => undefined);
  sensorA = new FleetClient({ redis: sensorClient, sensorName: 'sensor-a', keyPrefix: fleetPrefixFor(undefined), flushIntervalMs: 10 });
  sensorB = new FleetClient({ redis: sensorClient, sensorName: 'sensor-b', flushIntervalMs: 10 });
}, 60_000);

afterAll(async () => {
  await sensorA?.close();
  await sensorB?.close();
  sensorClient?.disconnect();
  await api?.stop();
});

describe('enforcement switch', () => {
  test('every watching sensor follows a switch made through the API; the switch is audited', async () => {
    const seenA: EnforcementMode[] = [];
    const seenB: EnforcementMode[] = [];
    const watchA = sensorA.watchEnforcement((m) => seenA.push(m));
    const watchB = sensorB.watchEnforcement((m) => seenB.push(m));
    await eventually(() => watchA.current() === 'enforce' && watchB.current() === 'enforce', 10_000, 'initial mode');
    expect((await api.request('GET', '/v1/enforcement')).json).toMatchObject({ mode: 'enforce', changedAt: null });
    const put = await api.request('PUT', '/v1/enforcement', { body: { mode: 'monitor' } });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ mode: 'monitor', changedBy: 'admin' });
    await eventually(() => watchA.current() === 'monitor' && watchB.current() === 'monitor', 10_000, 'sensors to follow');
    expect(seenA).toEqual(['enforce', 'monitor']);
    const check = await api.request('GET', '/v1/check?ip=198.18.0.1');
    expect(check.json.enforcement).toBe('monitor');
    await api.request('PUT', '/v1/enforcement', { body: { mode: 'enforce' } });
    await eventually(() => watchB.current() === 'enforce', 10_000, 'back to enforce');
    watchA.stop();
    watchB.stop();
    const audit = await api.request('GET', '/v1/audit?limit=1000');
    const switches = audit.json.records.filter((r: { action: string }) => r.action === 'enforcement.set');
    expect(switches.map((r: { target: { mode: string } }) => r.target.mode)).toEqual(['monitor', 'enforce']);
  });

  test('a switch written straight into Redis (no message) is picked up by the periodic re-read', async () => {
    const watch = sensorA.watchEnforcement(() => undefined);
    await eventually(() => watch.current() === 'enforce', 10_000, 'initial');
    await api.client!.set('offpath:fleet:enforcement', JSON.stringify({ mode: 'monitor', changedAt: new Date().toISOString(), changedBy: 'redis-cli' }));
    await eventually(() => watch.current() === 'monitor', 10_000, 'poll to see it');
    // Malformed switch: ignored, the last known mode stays.
    await api.client!.set('offpath:fleet:enforcement', '{"mode":"off"');
    await new Promise((r) => setTimeout(r, 1200));
    expect(watch.current()).toBe('monitor');
    await api.client!.del('offpath:fleet:enforcement');
    await eventually(() => watch.current() === 'enforce', 10_000, 'default again');
    watch.stop();
  });
});

describe('sensors', () => {
  test('heartbeats are listed with their figures; a silent sensor goes down', async () => {
    await sensorA.reportHeartbeat({ name: 'sensor-a', interfaces: ['eth1', 'eth2'], version: '0.1.0', intelVersion: 42, pps: 120_000, drops: 3, intervalMs: 60_000 });
    await sensorB.reportHeartbeat({ name: 'sensor-b', interfaces: ['ens5'], version: '0.1.0', intelVersion: 41, pps: 10, drops: 0, kernelDropsUnknown: true, intervalMs: 100 });
    const r = await api.request('GET', '/v1/sensors');
    expect(r.status).toBe(200);
    expect(r.json.sensors.map((s: { name: string }) => s.name)).toEqual(['sensor-a', 'sensor-b']);
    expect(r.json.sensors[0]).toMatchObject({ interfaces: ['eth1', 'eth2'], version: '0.1.0', intelVersion: 42, pps: 120_000, drops: 3, status: 'up' });
    expect(Date.parse(r.json.sensors[0].lastSeen)).toBeGreaterThan(Date.now() - 60_000);
    // A backend that cannot count the kernel's drops says so; the others leave the flag out.
    expect(r.json.sensors[1]).toMatchObject({ drops: 0, kernelDropsUnknown: true });
    expect(r.json.sensors[0]).not.toHaveProperty('kernelDropsUnknown');
    // sensor-b said it beats every 100 ms: its record lapses after 300 ms without one.
    await eventually(async () => (await api.request('GET', '/v1/sensors')).json.sensors[1].status === 'down', 10_000, 'sensor-b down');
    const down = (await api.request('GET', '/v1/sensors')).json.sensors[1];
    expect(down).toMatchObject({ name: 'sensor-b', intelVersion: 41, status: 'down' });
  });
});

describe('events', () => {
  test('block events: history with since and cursor, and a live SSE stream that resumes with Last-Event-ID', async () => {
    const before = Date.now();
    const live = await openSse(`${api.url}/v1/events/stream`, api.tokens.read);
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toContain('text/event-stream');
    for (let i = 0; i < 5; i++) {
      sensorA.reportEvent({ action: 'block', indicator: '198.18.50.1', src: '10.1.1.1', sport: 40000 + i, dst: '198.18.50.1', dport: 443, proto: 'tcp', resets: 2 });
    }
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await live.next());
    live.close();
    expect(got.every((e) => e.event === 'block')).toBe(true);
    const parsed = got.map((e) => JSON.parse(e.data) as { id: string; event: { sensor: string; sport: number; indicator: string } });
    expect(parsed.map((p) => p.event.sport)).toEqual([40000, 40001, 40002, 40003, 40004]);
    expect(parsed[0]!.event.sensor).toBe('sensor-a');
    expect(parsed.map((p) => p.id)).toEqual(got.map((e) => e.id));

    const history = await api.request('GET', `/v1/events?since=${new Date(before - 1000).toISOString()}`);
    expect(history.json.events.map((e: { id: string }) => e.id)).toEqual(parsed.map((p) => p.id));
    const paged = await api.request('GET', `/v1/events?since=${before - 1000}&limit=2`);
    expect(paged.json.events).toHaveLength(2);
    expect(paged.json.more).toBe(true);
    const rest = await api.request('GET', `/v1/events?cursor=${paged.json.nextCursor}`);
    expect(rest.json.events.map((e: { id: string }) => e.id)).toEqual(parsed.slice(2).map((p) => p.id));

    // Resume after the second event: the stream replays the three after it, then continues live.
    const resumed = await openSse(`${api.url}/v1/events/stream`, api.tokens.read, { 'last-event-id': parsed[1]!.id });
    const replay = [await resumed.next(), await resumed.next(), await resumed.next()];
    expect(replay.map((e) => e.id)).toEqual(parsed.slice(2).map((p) => p.id));
    sensorB.reportEvent({ action: 'monitor', indicator: '198.18.50.2' });
    const next = JSON.parse((await resumed.next()).data);
    expect(next.event).toMatchObject({ sensor: 'sensor-b', action: 'monitor', indicator: '198.18.50.2' });
    resumed.close();
  });

  test('events are bounded in shape: objects and huge strings from a sensor are not stored as given', async () => {
    sensorA.reportEvent({ action: 'block', indicator: 'x'.repeat(10_000), nested: { a: 1 }, list: [1, 2], 'bad key': 1 } as never);
    await sensorA.flush();
    const r = await api.request('GET', '/v1/events?limit=1');
    const e = r.json.events[0].event;
    expect(e.indicator).toHaveLength(512);
    expect(e.nested).toBeUndefined();
    expect(e.list).toBeUndefined();
    expect(e['bad key']).toBeUndefined();
  });
});
