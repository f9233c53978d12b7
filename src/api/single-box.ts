/**
 * Single-box mode: the API served from inside `offpath sensor --api HOST:PORT` when there is no Redis. The sensor
 * passes its own IntelSet and LocalFleet; tokens come from a file of hashes (offpath token create --tokens FILE);
 * the audit trail is a bounded ring, optionally appended to a JSON-lines file.
 *
 *   const fleet = new LocalFleet({ sensorName });
 *   const api = await startSingleBoxApi({ set, fleet, tokensFile, listen: '127.0.0.1:8443', logger });
 *   ... fleet.watchEnforcement(...), fleet.reportEvent(...), fleet.reportHeartbeat(...) from the sensor ...
 *   await api.close();
 */
import type { FastifyInstance } from 'fastify';
import type { IntelSet } from '../intel/intel-set.js';
import type { LocalFleet } from '../fleet/local-fleet.js';
import { MemoryAuditLog } from './audit/audit-log.js';
import { FileTokenStore } from './auth/file-token-store.js';
import { MemoryIntelBackend } from './backends/memory-intel-backend.js';
import type { ApiDeps } from './deps.js';
import { parseListen } from './listen.js';
import { buildApiServer, type ApiServerOptions } from './server.js';

export interface SingleBoxApiOptions extends ApiServerOptions {
  readonly set: IntelSet;
  readonly fleet: LocalFleet;
  /** JSON-lines file of token hashes (must exist: create it with offpath token create --tokens FILE). */
  readonly tokensFile: string;
  /** Append every audit record to this JSON-lines file too. */
  readonly auditFile?: string;
  /** Audit records kept in memory (default 100,000). */
  readonly auditCapacity?: number;
}

export function singleBoxDeps(options: SingleBoxApiOptions): ApiDeps {
  const log = options.logger || undefined;
  return {
    intel: new MemoryIntelBackend(options.set),
    tokens: new FileTokenStore(options.tokensFile, { onMalformed: (line) => log?.warn({ file: options.tokensFile, line }, 'malformed token line ignored') }),
    audit: new MemoryAuditLog({
      capacity: options.auditCapacity,
      file: options.auditFile,
      onFileError: (err) => log?.error({ err, file: options.auditFile }, 'audit file not writable; the audit trail stays in memory only'),
    }),
    fleet: options.fleet,
  };
}

export interface RunningApi {
  readonly server: FastifyInstance;
  /** Where it listens, e.g. http://127.0.0.1:8443. */
  readonly url: string;
  close(): Promise<void>;
}

/** Builds and starts the single-box API; close() stops it and its token watch and audit file (not the set or fleet). */
export async function startSingleBoxApi(options: SingleBoxApiOptions & { listen: string }): Promise<RunningApi> {
  const deps = singleBoxDeps(options);
  const server = await buildApiServer(deps, options);
  const { host, port } = parseListen(options.listen);
  const url = await server.listen({ host, port });
  return {
    server,
    url,
    close: async () => {
      await server.close();
      await deps.tokens.close();
      await deps.audit.close();
    },
  };
}
