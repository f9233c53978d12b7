/**
 * Where API tokens live: a Redis hash (fleet mode) or a JSON-lines file of hashes (single box). Either way only
 * the SHA-256 of a token is stored (token-secret.ts), and the API checks tokens against an in-memory copy that
 * follows the store (pub/sub or file polling), so a revocation takes effect within about a second everywhere.
 */
import { OffpathError } from '../../util/errors.js';
import { isScope, type Scope } from './scopes.js';
import { generateToken } from './token-secret.js';

export interface TokenRecord {
  /** Public id (the `<id>` part of `opk_<id>_<secret>`). */
  readonly id: string;
  /** Who or what uses the token: appears in the audit trail as the actor. Unique among active tokens. */
  readonly name: string;
  readonly scope: Scope;
  /** Hex SHA-256 of the token. */
  readonly hash: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
  /** Requests per second for this token; null = the server's --rate-limit. */
  readonly rateLimit: number | null;
}

/** A token record without its hash, as lists show it. */
export type TokenInfo = Omit<TokenRecord, 'hash'>;

export interface CreateTokenInput {
  readonly name: string;
  readonly scope: Scope;
  readonly rateLimit?: number | null;
  readonly createdBy: string;
}

export interface TokenStore {
  /** Hot path: the cached record for a token id. */
  lookup(id: string): TokenRecord | undefined;
  /**
   * A token id the cache does not know: read it from the store itself (a token created a moment ago by another
   * process). Misses are remembered briefly, so unknown ids cannot turn every request into a store read.
   */
  lookupMissing(id: string): Promise<TokenRecord | undefined>;
  /** Every record, revoked ones included (newest last). */
  list(): Promise<TokenRecord[]>;
  /** Creates a token; the returned `token` text exists nowhere else. Throws TokenNameTakenError. */
  create(input: CreateTokenInput): Promise<{ record: TokenRecord; token: string }>;
  /** Revokes by id or by name; returns the revoked record, or null when no active token matched. */
  revoke(idOrName: string, by: string): Promise<TokenRecord | null>;
  close(): Promise<void>;
}

export class TokenNameTakenError extends OffpathError {
  constructor(name: string) {
    super('token_name_taken', `an active token is already named ${JSON.stringify(name)}`, 'revoke it first, or choose another name');
    this.name = 'TokenNameTakenError';
  }
}

export class TokenInputError extends OffpathError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('token_input', `${field}: ${message}`);
    this.name = 'TokenInputError';
    this.field = field;
  }
}

const TOKEN_NAME = /^[A-Za-z0-9_.@:-]{1,64}$/;
export const MAX_TOKEN_RATE = 1_000_000;

export function checkTokenInput(input: CreateTokenInput): void {
  if (typeof input.name !== 'string' || !TOKEN_NAME.test(input.name)) {
    throw new TokenInputError('name', 'use 1-64 letters, digits and . _ @ : -');
  }
  if (!isScope(input.scope)) throw new TokenInputError('scope', 'must be read, write or admin');
  const rate = input.rateLimit;
  if (rate !== undefined && rate !== null && (!Number.isInteger(rate) || rate < 1 || rate > MAX_TOKEN_RATE)) {
    throw new TokenInputError('rateLimit', `must be a whole number of requests per second from 1 to ${MAX_TOKEN_RATE}`);
  }
}

export function newTokenRecord(input: CreateTokenInput, now: Date = new Date()): { record: TokenRecord; token: string } {
  checkTokenInput(input);
  const { id, token, hash } = generateToken();
  const record: TokenRecord = {
    id,
    name: input.name,
    scope: input.scope,
    hash,
    createdAt: now.toISOString(),
    createdBy: input.createdBy,
    revokedAt: null,
    revokedBy: null,
    rateLimit: input.rateLimit ?? null,
  };
  return { record, token };
}

/** Parses a stored record; null when it is not one (a malformed record is skipped, never trusted). */
export function parseTokenRecord(text: string): TokenRecord | null {
  let v: Partial<TokenRecord>;
  try {
    v = JSON.parse(text) as Partial<TokenRecord>;
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  if (typeof v.id !== 'string' || !/^[0-9a-f]{16}$/.test(v.id)) return null;
  if (typeof v.name !== 'string' || !isScope(v.scope) || typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) return null;
  return {
    id: v.id,
    name: v.name,
    scope: v.scope,
    hash: v.hash,
    createdAt: typeof v.createdAt === 'string' ? v.createdAt : '',
    createdBy: typeof v.createdBy === 'string' ? v.createdBy : '',
    revokedAt: typeof v.revokedAt === 'string' ? v.revokedAt : null,
    revokedBy: typeof v.revokedBy === 'string' ? v.revokedBy : null,
    rateLimit: typeof v.rateLimit === 'number' && Number.isInteger(v.rateLimit) && v.rateLimit > 0 ? v.rateLimit : null,
  };
}

export function tokenInfo(record: TokenRecord): TokenInfo {
  const { hash: _hash, ...info } = record;
  void _hash;
  return info;
}

/** Finds the active record named `idOrName` (by id first). */
export function findActive(records: Iterable<TokenRecord>, idOrName: string): TokenRecord | undefined {
  let byName: TokenRecord | undefined;
  for (const r of records) {
    if (r.revokedAt !== null) continue;
    if (r.id === idOrName) return r;
    if (r.name === idOrName) byName = r;
  }
  return byName;
}
