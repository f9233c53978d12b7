/**
 * kill -9 of Redis in the middle of a stream of 10,000 changes, then a restart, with and without persistence:
 * three sensors must converge to exactly what Redis holds afterwards; with AOF (appendfsync always) Redis must
 * hold every acknowledged change, and the sensors resume from their last event without a full resync.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { IntelSet } from '../../src/intel/intel-set.js';
import { RedisIntelStore } from '../../src/intel/redis/intel-store.js';
import { RedisIntelSync } from '../../src/intel/redis/intel-sync.js';
import { startRedisServer, type Persistence, type RedisServer } from '../support/redis-server.js';
import { prng, randInt } from '../intel/helpers.js';
import { contentOf, memoryLog, uniqueName, waitUntil } from './helpers.js';

const CHANGES = 10_000;
const KILL_AT = 4_000;
const servers: RedisServer[] = [];
const closers: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  for (const s of servers) await s.destroy();
});

const ip = (n: number): string => `198.18.${(n >> 8) & 255}.${n & 255}`;

describe.each<[Persistence, string]>([
  ['aof-always', 'with persistence (AOF, fsync always)'],
  ['none', 'without persistence'],
])('kill -9 during 10,000 changes, %s', (persistence, _label) => {
  test(`sensors converge to what Redis holds (${_label})`, async () => {
    const server = await startRedisServer({ persistence });
    servers.push(server);
    const prefix = uniqueName('fault');
    const connection = { url: server.url, keyPrefix: prefix, commandTimeoutMs: 2000, connectTimeoutMs: 1000 };
    const writer = RedisIntelStore.connect(connection);
    closers.push(() => writer.close());
    await writer.upsertMany(Array.from({ length: 1000 }, (_, i) => ({ indicator: ip(i), source: 'seed' })), { actor: 'seed' });
    const sensors = [0, 1, 2].map(() => {
      const s = new RedisIntelSync({ redis: connection, set: new IntelSet(), log: memoryLog() });
      closers.push(() => s.close());
      return s;
    });
    await Promise.all(sensors.map((s) => s.start()));

    // The writer's view: identity -> acknowledged content (null = removed), and identities whose last change
    // failed (the change may or may not have reached Redis).
    type State = { action: string; reason: string } | null;
    const acked = new Map<string, State>();
    const uncertain = new Set<string>();
    const rand = prng(persistence === 'none' ? 7 : 11);
    let failures = 0;
    let killed = false;
    let restartedAt = -1;
    for (let i = 0; i < CHANGES; i++) {
      if (i === KILL_AT) {
        server.kill('SIGKILL');
        killed = true;
      }
      const n = randInt(rand, 2000);
      const key = `feed\t${ip(n)}`;
      const remove = randInt(rand, 4) === 0;
      const state: State = remove ? null : { action: randInt(rand, 3) === 0 ? 'monitor' : 'block', reason: `change ${i}` };
      try {
        if (remove) await writer.remove('feed', ip(n), { actor: 'w' });
        else await writer.upsert({ indicator: ip(n), source: 'feed', action: state!.action, reason: state!.reason }, { actor: 'w' });
        acked.set(key, state);
        uncertain.delete(key);
      } catch {
        failures++;
        uncertain.add(key);
      }
      if (killed && restartedAt < 0 && failures >= 20) {
        await server.restart();
        restartedAt = i;
        if (persistence === 'none') {
          // Redis came back empty: only changes acknowledged from now on can be in it.
          acked.clear();
          uncertain.clear();
        }
      }
    }
    expect(restartedAt).toBeGreaterThan(KILL_AT);

    const version = await writer.version();
    await waitUntil(() => sensors.every((s) => s.status().versionApplied === version && s.status().state === 'live'), 'all sensors caught up', 60_000);
    const ref = new RedisIntelSync({ redis: connection, set: new IntelSet() });
    await ref.start();
    await ref.close();
    const expected = contentOf(ref.set);
    for (const s of sensors) {
      expect(s.set.digest()).toBe(ref.set.digest());
      expect(contentOf(s.set)).toEqual(expected);
    }

    // Redis holds every acknowledged change that persistence promises to keep.
    let checked = 0;
    for (const [key, state] of acked) {
      if (uncertain.has(key)) continue;
      const handle = ref.set.find('feed', key.slice(5));
      if (state === null) expect(handle, key).toBe(-1);
      else {
        expect(handle, key).toBeGreaterThanOrEqual(0);
        expect(ref.set.reasonOf(handle)).toBe(state.reason);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(500);
    if (persistence === 'aof-always') {
      // Same epoch, consecutive versions: every sensor resumed after its last applied event.
      for (const s of sensors) expect(s.status().resyncs).toBe(0);
      expect(expected.filter((line) => line.startsWith('seed|')).length).toBe(1000); // written before the kill
    } else {
      for (const s of sensors) expect(s.status().resyncs).toBeGreaterThanOrEqual(1);
      expect(expected.some((line) => line.startsWith('seed|'))).toBe(false); // lost with the memory-only server
    }
  }, 240_000);
});
