/**
 * The sensor's fleet link when Redis goes away: block events wait in a bounded queue and are written once Redis is
 * back (the oldest dropped and counted beyond the bound), and the last known enforcement mode stays in force.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { FleetClient } from '../../src/fleet/fleet-client.js';
import { RedisFleetView } from '../../src/fleet/redis-fleet-view.js';
import { createRedis, type RedisClient } from '../../src/intel/redis/connection.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { eventually } from './harness.js';

let redis: RedisServer;
let client: RedisClient;
let viewClient: RedisClient;

beforeAll(async () => {
  redis = await startRedisServer({ persistence: 'aof-always' });
  client = createRedis({ url: redis.url, commandTimeoutMs: 1000, connectTimeoutMs: 1000 });
  client.on('error', () => undefined);
  viewClient = createRedis({ url: redis.url });
  viewClient.on('error', () => undefined);
}, 30_000);

afterAll(async () => {
  client?.disconnect();
  viewClient?.disconnect();
  await redis?.destroy();
});

test('events queue while Redis is down and are written when it is back; the mode is kept meanwhile', async () => {
  const view = new RedisFleetView({ redis: viewClient });
  await view.start();
  await view.setEnforcement('monitor', 'test');
  const fleet = new FleetClient({ redis: client, sensorName: 'faulty', eventQueueLimit: 50, flushIntervalMs: 10, enforcementPollMs: 100 });
  const watch = fleet.watchEnforcement(() => undefined);
  await eventually(() => watch.current() === 'monitor', 10_000, 'initial mode');

  await redis.stop();
  for (let i = 0; i < 80; i++) fleet.reportEvent({ action: 'block', indicator: '198.18.95.1', sport: i });
  await fleet.flush();
  const stats = fleet.eventStats();
  expect(stats.dropped).toBe(30);
  expect(stats.queued).toBe(50);
  expect(stats.written).toBe(0);
  await new Promise((r) => setTimeout(r, 500));
  expect(watch.current()).toBe('monitor');

  await redis.restart();
  await eventually(() => fleet.eventStats().written === 50, 20_000, 'queued events to be written');
  const page = await view.events({ limit: 1000 });
  // The 30 oldest were dropped; the 50 newest arrived, in order.
  expect(page.events.map((e) => e.event.sport)).toEqual(Array.from({ length: 50 }, (_, i) => 30 + i));
  expect(watch.current()).toBe('monitor');
  watch.stop();
  await fleet.close();
  await view.close();
}, 60_000);
