/**
 * Connection topologies with real servers: TLS with a password, Redis Sentinel (including a failover to a replica)
 * and Redis Cluster. The store writes and a sensor follows through each.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { IntelSet } from '../../src/intel/intel-set.js';
import type { RedisConnectionOptions } from '../../src/intel/redis/connection.js';
import { RedisUnavailableError } from '../../src/intel/redis/errors.js';
import { RedisIntelStore } from '../../src/intel/redis/intel-store.js';
import { RedisIntelSync } from '../../src/intel/redis/intel-sync.js';
import { runCli, startRedisCluster, startRedisSentinel, startRedisServer, type RedisClusterServers, type RedisSentinel, type RedisServer } from '../support/redis-server.js';
import { memoryLog, uniqueName, waitUntil } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'offpath-topology-'));
const stops: (() => Promise<void>)[] = [];
const meta = { actor: 'tester' };

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

function track<T extends { close(): Promise<void> }>(x: T): T {
  stops.push(() => x.close());
  return x;
}

async function roundTrip(connection: RedisConnectionOptions): Promise<void> {
  const store = track(RedisIntelStore.connect(connection));
  await store.upsert({ indicator: '198.18.0.1' }, meta);
  const sync = track(new RedisIntelSync({ redis: connection, set: new IntelSet(), log: memoryLog() }));
  expect((await sync.start()).startedFrom).toBe('redis');
  expect(sync.set.size).toBe(1);
  const v = await store.upsert({ indicator: '198.18.0.2', action: 'allow' }, meta);
  expect(await sync.waitForVersion(v.version, 20_000)).toBe(true);
  expect(sync.set.size).toBe(2);
}

describe('TLS and password', () => {
  test('rediss:// with a CA file and a password works; a wrong CA or password is a clear error', async () => {
    const ca = join(tmp, 'ca.pem');
    const caKey = join(tmp, 'ca.key');
    const cert = join(tmp, 'server.pem');
    const key = join(tmp, 'server.key');
    const ext = join(tmp, 'ext.cnf');
    writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    const ssl = (...args: string[]): void => {
      execFileSync('openssl', args, { stdio: 'ignore' });
    };
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=offpath test CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', join(tmp, 'server.csr'), '-subj', '/CN=localhost');
    ssl('x509', '-req', '-in', join(tmp, 'server.csr'), '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext);
    const server = await startRedisServer({ tls: { certFile: cert, keyFile: key, caFile: ca }, password: 's3cret' });
    stops.push(() => server.destroy());
    await roundTrip({ url: `rediss://:s3cret@127.0.0.1:${server.port}`, tlsCaFile: ca, keyPrefix: uniqueName('tls') });

    const noPassword = track(RedisIntelStore.connect({ url: `rediss://127.0.0.1:${server.port}`, tlsCaFile: ca, connectTimeoutMs: 2000 }));
    await expect(noPassword.version()).rejects.toThrow(RedisUnavailableError);
    const otherCa = join(tmp, 'other-ca.pem');
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'other.key'), '-out', otherCa, '-days', '2', '-subj', '/CN=someone else');
    const wrongCa = track(RedisIntelStore.connect({ url: `rediss://:s3cret@127.0.0.1:${server.port}`, tlsCaFile: otherCa, connectTimeoutMs: 2000 }));
    await expect(wrongCa.version()).rejects.toThrow(/cannot connect .*(SELF_SIGNED|UNABLE_TO_VERIFY|certificate)/i);
  }, 60_000);
});

describe('Redis Sentinel', () => {
  test('writes and follows through the sentinel, and survives a failover to the replica', async () => {
    const master: RedisServer = await startRedisServer({ persistence: 'none' });
    stops.push(() => master.destroy());
    const replica: RedisServer = await startRedisServer();
    stops.push(() => replica.destroy());
    await replica.cli('REPLICAOF', '127.0.0.1', String(master.port));
    const sentinel: RedisSentinel = await startRedisSentinel(master.port, 'intel-master');
    stops.push(() => sentinel.stop());
    const connection: RedisConnectionOptions = {
      sentinels: [{ host: '127.0.0.1', port: sentinel.port }],
      sentinelName: 'intel-master',
      keyPrefix: uniqueName('sentinel'),
      commandTimeoutMs: 2000,
      connectTimeoutMs: 2000,
    };
    const store = track(RedisIntelStore.connect(connection));
    await store.upsertMany(Array.from({ length: 50 }, (_, i) => ({ indicator: `198.18.0.${i}` })), meta);
    const sync = track(new RedisIntelSync({ redis: connection, set: new IntelSet(), log: memoryLog() }));
    await sync.start();
    expect(sync.set.size).toBe(50);

    // The sentinel learns about the replica from the master's INFO (every 10 s), then the master dies.
    await waitUntil(async () => (await sentinel.cli('SENTINEL', 'replicas', 'intel-master')).includes(String(replica.port)), 'sentinel knows the replica', 60_000);
    await waitUntil(async () => /master_link_status:up/.test(await replica.cli('INFO', 'replication')), 'replica in sync', 30_000);
    await master.cli('WAIT', '1', '5000');
    master.kill('SIGKILL');
    await waitUntil(async () => (await sentinel.cli('SENTINEL', 'get-master-addr-by-name', 'intel-master')).includes(String(replica.port)), 'failover to the replica', 60_000);

    // The writer reconnects to the new master (its first attempts may fail while ioredis asks the sentinel again).
    let v = 0;
    await waitUntil(async () => {
      try {
        v = (await store.upsert({ indicator: '198.18.1.1' }, meta)).version;
        return true;
      } catch {
        return false;
      }
    }, 'a write on the new master', 60_000);
    expect(await sync.waitForVersion(v, 60_000)).toBe(true);
    expect(sync.set.size).toBe(51);
    expect(sync.status().resyncs).toBe(0); // the replica held the same epoch and versions
  }, 180_000);
});

describe('Redis Cluster', () => {
  let cluster: RedisClusterServers | null = null;
  afterAll(async () => {
    await cluster?.stop();
  });

  test('all keys share one slot; store and sensor work through the cluster client', async () => {
    cluster = await startRedisCluster(3);
    const prefix = uniqueName('cluster');
    const connection: RedisConnectionOptions = {
      cluster: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      keyPrefix: prefix,
      commandTimeoutMs: 2000,
      connectTimeoutMs: 2000,
    };
    await roundTrip(connection);
    const store = track(RedisIntelStore.connect(connection));
    await store.upsertMany(Array.from({ length: 300 }, (_, i) => ({ indicator: `198.18.1.${i & 255}`, source: `s${i >> 8}` })), meta);
    expect((await store.status()).entries).toBe(302);
    const slots = new Set<string>();
    for (const key of [store.keys.meta, store.keys.stream, store.keys.shards[0]!, store.keys.shards[255]!]) {
      slots.add((await runCli(['-p', String(cluster.nodes[0]!.port), 'CLUSTER', 'KEYSLOT', key])).trim());
    }
    expect(slots.size).toBe(1);
  }, 120_000);
});
