/**
 * Tokens in Redis (fleet mode), so every API instance and the CLI share them (schema in ../keys.ts). Each API
 * process keeps a copy for the hot path, re-read on a pub/sub notice and every `refreshMs` as the fallback;
 * while Redis is unreachable the last copy stays in force (a token revoked meanwhile is refused once Redis
 * answers again).
 */
import type { Cluster, Redis } from 'ioredis';
import { apiKeys, type ApiKeys } from '../keys.js';
import {
  findActive, newTokenRecord, parseTokenRecord, TokenNameTakenError, type CreateTokenInput, type TokenRecord, type TokenStore,
} from './token-store.js';

const MISS_TTL_MS = 2000;
const MAX_MISSES = 10_000;

export interface RedisTokenStoreOptions {
  readonly redis: Redis | Cluster;
  readonly keyPrefix?: string;
  /** Follow changes (API processes); the CLI does not need to. Default true. */
  readonly follow?: boolean;
  readonly refreshMs?: number;
  readonly log?: { warn(obj: object, msg?: string): void };
}

export class RedisTokenStore implements TokenStore {
  private readonly redis: Redis | Cluster;
  private readonly keys: ApiKeys;
  private records = new Map<string, TokenRecord>();
  private subscriber: Redis | Cluster | null = null;
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  private malformed = 0;

  constructor(private readonly options: RedisTokenStoreOptions) {
    this.redis = options.redis;
    this.keys = apiKeys(options.keyPrefix);
  }

  /** Loads the tokens (throws when Redis cannot be read) and starts following changes. */
  async start(): Promise<void> {
    await this.load();
    if (this.options.follow === false) return;
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', () => void this.refresh());
    sub.on('ready', () => {
      sub.subscribe(this.keys.tokensChannel).catch(() => undefined);
      void this.refresh();
    });
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 2000);
    this.timer.unref();
  }

  /** Re-reads all tokens; only one read runs at a time. */
  refresh(): Promise<void> {
    if (this.loading === null) {
      this.loading = this.load()
        .catch((err: unknown) => this.options.log?.warn({ err }, 'tokens not re-read from Redis; the last copy stays in force'))
        .finally(() => {
          this.loading = null;
        });
    }
    return this.loading;
  }

  private async load(): Promise<void> {
    const all = await this.redis.hgetall(this.keys.tokens);
    const next = new Map<string, TokenRecord>();
    let malformed = 0;
    for (const [id, json] of Object.entries(all)) {
      const record = parseTokenRecord(json);
      if (record === null || record.id !== id) malformed++;
      else next.set(id, record);
    }
    if (malformed > 0 && malformed !== this.malformed) this.options.log?.warn({ malformed }, 'malformed token records in Redis ignored');
    this.malformed = malformed;
    this.records = next;
  }

  lookup(id: string): TokenRecord | undefined {
    return this.records.get(id);
  }

  private readonly misses = new Map<string, number>();

  async lookupMissing(id: string): Promise<TokenRecord | undefined> {
    const now = Date.now();
    const missedAt = this.misses.get(id);
    if (missedAt !== undefined && now - missedAt < MISS_TTL_MS) return undefined;
    let json: string | null;
    try {
      json = await this.redis.hget(this.keys.tokens, id);
    } catch {
      return undefined; // Redis away: the cached tokens are all there is
    }
    const record = json === null ? null : parseTokenRecord(json);
    if (record === null || record.id !== id) {
      if (this.misses.size >= MAX_MISSES) this.misses.clear();
      this.misses.set(id, now);
      return undefined;
    }
    this.records.set(id, record);
    return record;
  }

  async list(): Promise<TokenRecord[]> {
    await this.load();
    return [...this.records.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  async create(input: CreateTokenInput): Promise<{ record: TokenRecord; token: string }> {
    const created = newTokenRecord(input);
    // HSETNX on the name index makes "one active token per name" atomic across API instances and the CLI.
    const claimed = await this.redis.hsetnx(this.keys.tokenNames, input.name, created.record.id);
    if (claimed === 0) throw new TokenNameTakenError(input.name);
    await this.redis.hset(this.keys.tokens, created.record.id, JSON.stringify(created.record));
    this.records.set(created.record.id, created.record);
    await this.notify();
    return created;
  }

  async revoke(idOrName: string, by: string): Promise<TokenRecord | null> {
    await this.load();
    const found = findActive(this.records.values(), idOrName);
    if (!found) return null;
    const revoked: TokenRecord = { ...found, revokedAt: new Date().toISOString(), revokedBy: by };
    await this.redis.hset(this.keys.tokens, found.id, JSON.stringify(revoked));
    // Free the name only if it still points at this token.
    const owner = await this.redis.hget(this.keys.tokenNames, found.name);
    if (owner === found.id) await this.redis.hdel(this.keys.tokenNames, found.name);
    this.records.set(found.id, revoked);
    await this.notify();
    return revoked;
  }

  private async notify(): Promise<void> {
    try {
      await this.redis.publish(this.keys.tokensChannel, 'changed');
    } catch {
      // other API processes re-read within refreshMs anyway
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const sub = this.subscriber;
    this.subscriber = null;
    if (sub) sub.disconnect();
    await this.loading;
  }
}
