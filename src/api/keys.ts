/**
 * Redis keys of the API (documented in src/api/README.md):
 *
 *   <prefix>tokens          hash, token id -> token record JSON (hash of the token, never the token)
 *   <prefix>token-names     hash, active token name -> token id (HSETNX makes names unique)
 *   <prefix>tokens          pub/sub channel (same name): a token was created or revoked, re-read
 *   <prefix>audit           stream, field `r` = audit record JSON, MAXLEN ~ bounded
 */
export const DEFAULT_API_PREFIX = 'offpath:api:';

/** API key prefix that goes with an intel key prefix (see fleetPrefixFor in src/fleet/keys.ts). */
export function apiPrefixFor(intelKeyPrefix?: string): string {
  return intelKeyPrefix === undefined || intelKeyPrefix === 'offpath:intel' ? DEFAULT_API_PREFIX : `${intelKeyPrefix}:api:`;
}

export interface ApiKeys {
  readonly tokens: string;
  readonly tokenNames: string;
  readonly tokensChannel: string;
  readonly audit: string;
}

export function apiKeys(prefix: string = DEFAULT_API_PREFIX): ApiKeys {
  return {
    tokens: `${prefix}tokens`,
    tokenNames: `${prefix}token-names`,
    tokensChannel: `${prefix}tokens`,
    audit: `${prefix}audit`,
  };
}
