/**
 * Redis mode: everything the API needs from one Redis (or Sentinel / Cluster) connection description.
 *   intel   RedisIntelStore (writes) + RedisIntelSync into this process's IntelSet (check)
 *   tokens  RedisTokenStore     under <api prefix>
 *   audit   RedisAuditLog       under <api prefix>
 *   fleet   RedisFleetView      under <fleet prefix>
 */
import { IntelSet } from '../intel/intel-set.js';
import { createRedis, type RedisClient, type RedisConnectionOptions } from '../intel/redis/connection.js';
import { RedisIntelStore } from '../intel/redis/intel-store.js';
import { RedisIntelSync, type SyncLogger } from '../intel/redis/intel-sync.js';
import { WriteEcho } from '../intel/redis/write-echo.js';
import { fleetPrefixFor } from '../fleet/keys.js';
import { RedisFleetView } from '../fleet/redis-fleet-view.js';
import { RedisAuditLog } from './audit/redis-audit-log.js';
import { RedisTokenStore } from './auth/redis-token-store.js';
import { RedisIntelBackend } from './backends/redis-intel-backend.js';
import type { ApiDeps } from './deps.js';
import { apiPrefixFor } from './keys.js';

export interface RedisApiDepsOptions {
  readonly connection: RedisConnectionOptions;
  readonly log?: SyncLogger;
  /** Audit records kept in the stream (default 1,000,000). */
  readonly auditMaxLen?: number;
}

export interface RedisApiDeps {
  readonly deps: ApiDeps;
  readonly client: RedisClient;
  readonly sync: RedisIntelSync;
  close(): Promise<void>;
}

/**
 * Connects and loads: resolves once tokens are read and the intel snapshot is applied (or, with Redis down, once
 * the sync has started retrying: the API then answers 503 on writes and readiness until Redis is back). Tokens
 * must be readable at start: without them no request could be authorised.
 */
export async function createRedisApiDeps(options: RedisApiDepsOptions): Promise<RedisApiDeps> {
  const connection = options.connection;
  const client = createRedis({ connectionName: 'offpath-api', ...connection });
  client.on('error', () => undefined); // failures surface on commands (503) and in readiness
  const apiPrefix = apiPrefixFor(connection.keyPrefix);
  const tokens = new RedisTokenStore({ redis: client, keyPrefix: apiPrefix, log: options.log });
  const set = new IntelSet();
  // This process follows the stream it writes: its bulk writes reach its own set without being decoded again.
  const echo = new WriteEcho();
  const sync = new RedisIntelSync({ redis: { connectionName: 'offpath-api-sync', ...connection }, set, log: options.log, echo });
  const fleet = new RedisFleetView({ redis: client, keyPrefix: fleetPrefixFor(connection.keyPrefix), log: options.log });
  try {
    await tokens.start();
    await sync.start();
    await fleet.start();
  } catch (err) {
    await Promise.allSettled([tokens.close(), sync.close(), fleet.close()]);
    client.disconnect();
    throw err;
  }
  const store = new RedisIntelStore(client, { keyPrefix: connection.keyPrefix, streamMaxLength: connection.streamMaxLength, echo });
  const intel = new RedisIntelBackend(store, sync);
  const audit = new RedisAuditLog(client, { keyPrefix: apiPrefix, maxLen: options.auditMaxLen });
  return {
    deps: { intel, tokens, audit, fleet },
    client,
    sync,
    close: async () => {
      await fleet.close();
      await tokens.close();
      await intel.close();
      await audit.close();
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}
