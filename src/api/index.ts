/** Public surface of the blocking API (see README.md). */
export { buildApiServer, offpathVersion, type ApiServerOptions } from './server.js';
export { createRedisApiDeps, type RedisApiDeps, type RedisApiDepsOptions } from './redis-mode.js';
export { singleBoxDeps, startSingleBoxApi, type RunningApi, type SingleBoxApiOptions } from './single-box.js';
export { parseListen } from './listen.js';
export { apiKeys, apiPrefixFor, DEFAULT_API_PREFIX } from './keys.js';
export { MemoryAuditLog, type AuditLog, type AuditRecord } from './audit/audit-log.js';
export { FileTokenStore } from './auth/file-token-store.js';
export { RedisTokenStore } from './auth/redis-token-store.js';
export type { Scope } from './auth/scopes.js';
export type { TokenRecord, TokenStore } from './auth/token-store.js';
export type { ApiDeps, ApiEntry, IntelBackend } from './deps.js';
export { ApiError, type ErrorBody } from './errors.js';
