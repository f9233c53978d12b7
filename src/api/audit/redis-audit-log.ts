/**
 * Audit trail in a Redis Stream (fleet mode): shared by every API instance, ordered by the stream's own ids, and
 * bounded (MAXLEN ~, default 1,000,000 records). Each record is one field `r` holding its JSON.
 */
import type { Cluster, Redis } from 'ioredis';
import { apiKeys } from '../keys.js';
import type { AuditInput, AuditLog, AuditPage, AuditQuery, AuditRecord } from './audit-log.js';

type StreamEntry = [id: string, fields: string[]];

export class RedisAuditLog implements AuditLog {
  private readonly key: string;
  private readonly maxLen: number;

  constructor(private readonly redis: Redis | Cluster, options: { keyPrefix?: string; maxLen?: number } = {}) {
    this.key = apiKeys(options.keyPrefix).audit;
    this.maxLen = options.maxLen ?? 1_000_000;
  }

  async append(input: AuditInput): Promise<AuditRecord> {
    const json = JSON.stringify(input);
    const id = (await this.redis.xadd(this.key, 'MAXLEN', '~', this.maxLen, '*', 'r', json))!;
    return toRecord([id, ['r', json]])!;
  }

  async read(query: AuditQuery): Promise<AuditPage> {
    const limit = Math.max(1, query.limit);
    let entries: StreamEntry[];
    let more = false;
    if (query.afterId !== undefined || query.sinceMs !== undefined) {
      const start = query.afterId !== undefined ? `(${query.afterId}` : `${Math.max(0, Math.floor(query.sinceMs!))}-0`;
      entries = (await this.redis.xrange(this.key, start, '+', 'COUNT', limit + 1)) as StreamEntry[];
      more = entries.length > limit;
      if (more) entries = entries.slice(0, limit);
    } else {
      entries = ((await this.redis.xrevrange(this.key, '+', '-', 'COUNT', limit)) as StreamEntry[]).reverse();
    }
    const records = entries.map(toRecord).filter((r): r is AuditRecord => r !== null);
    const last = entries.length > 0 ? entries[entries.length - 1]![0] : (query.afterId ?? null);
    return { records, nextCursor: last, more };
  }

  async close(): Promise<void> {
    // the connection belongs to the caller
  }
}

function toRecord([id, fields]: StreamEntry): AuditRecord | null {
  const i = fields.indexOf('r');
  if (i < 0 || i + 1 >= fields.length) return null;
  try {
    const input = JSON.parse(fields[i + 1]!) as AuditInput;
    const ms = Number(id.split('-')[0]);
    return { id, time: new Date(ms).toISOString(), ...input };
  } catch {
    return null;
  }
}
