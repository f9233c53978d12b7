/**
 * Redis-mode intel backend: writes go through the fleet's one writer (RedisIntelStore: record + change event in
 * one Lua script), reads of single entries and lists come from Redis, and `check` reads the API process's own
 * IntelSet, kept in step by a RedisIntelSync exactly as a sensor's is. After a write, the route waits (bounded)
 * until that set holds the new version, so a check right after a POST sees it.
 */
import type { IntelAction } from '../../intel/action.js';
import type { IntelEntryInput, PreparedEntry } from '../../intel/entry.js';
import type { IntelSet } from '../../intel/intel-set.js';
import type { RedisIntelStore } from '../../intel/redis/intel-store.js';
import type { RedisIntelSync } from '../../intel/redis/intel-sync.js';
import type { StoredIntelEntry } from '../../intel/redis/record-codec.js';
import type { ApiEntry, BackendHealth, BatchWriteResult, ChangeMeta, IntelBackend, ListPage, ListQuery, UpsertOutcome } from '../deps.js';
import { isoFromEpoch } from '../entry-view.js';

export function apiEntryFromStored(e: StoredIntelEntry): ApiEntry {
  return {
    id: e.id,
    source: e.source,
    indicator: e.indicator,
    kind: e.kind,
    action: e.action,
    expiresAt: isoFromEpoch(e.expiresAt),
    reason: e.reason,
    tags: e.tags,
  };
}

/** Table slots moved per maintenance slice (a few milliseconds of work at most). */
const MAINTAIN_BUDGET = 1 << 16;

export class RedisIntelBackend implements IntelBackend {
  readonly mode = 'redis' as const;
  readonly set: IntelSet;
  private readonly maintenance: NodeJS.Timeout;
  private maintaining = false;

  constructor(private readonly store: RedisIntelStore, private readonly sync: RedisIntelSync) {
    this.set = sync.set;
    // The set's tables grow incrementally, a little with every change; after a burst (a bulk import arriving
    // through the sync) growth can stay half done, and lookups then probe two arrays. Finish it when idle, as a
    // sensor does (IntelSet.maintain, src/intel/README.md).
    this.maintenance = setInterval(() => void this.maintain(), 500);
    this.maintenance.unref();
  }

  /** Finishes pending table growth in bounded slices, yielding to requests between slices. */
  private async maintain(): Promise<void> {
    if (this.maintaining) return;
    this.maintaining = true;
    try {
      while (this.set.maintain(MAINTAIN_BUDGET)) await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      this.maintaining = false;
    }
  }

  async get(source: string, id: string): Promise<ApiEntry | null> {
    const e = await this.store.get(source, id);
    return e === null ? null : apiEntryFromStored(e);
  }

  async upsert(input: IntelEntryInput, meta: ChangeMeta): Promise<UpsertOutcome> {
    // The route has applied the over-broad policy (force needs admin); the store must not refuse it again.
    const r = await this.store.upsert(input, { ...meta, allowOverBroad: true });
    const applied = this.sync.status().versionApplied >= r.version && this.sync.status().state === 'live';
    return { entry: apiEntryFromStored(r.entry), created: r.created, version: r.version, applied };
  }

  async upsertBatch(entries: readonly PreparedEntry[], meta: ChangeMeta): Promise<BatchWriteResult> {
    // The route has applied the over-broad policy (force needs admin); the store must not refuse it again.
    const written = await this.store.writePrepared(entries, { ...meta, allowOverBroad: true });
    return { statuses: written.statuses, version: written.version };
  }

  async remove(source: string, id: string, meta: ChangeMeta): Promise<ApiEntry | null> {
    const r = await this.store.remove(source, id, meta);
    return r.removed === null ? null : apiEntryFromStored(r.removed);
  }

  async findByIndicator(indicator: string, actions: readonly IntelAction[]): Promise<ApiEntry[]> {
    const found = await this.store.findByIndicator(indicator);
    return found.filter((e) => actions.includes(e.action)).map(apiEntryFromStored);
  }

  async list(query: ListQuery): Promise<ListPage> {
    const page = await this.store.list({
      cursor: query.cursor,
      limit: query.limit,
      kind: query.kind,
      action: query.actions,
      source: query.source,
      tag: query.tag,
      expiringBefore: query.expiringBefore,
    });
    return { entries: page.entries.map(apiEntryFromStored), nextCursor: page.nextCursor };
  }

  waitApplied(version: number, timeoutMs: number): Promise<boolean> {
    return this.sync.waitForVersion(version, timeoutMs);
  }

  health(): BackendHealth {
    const s = this.sync.status();
    return {
      ok: s.state === 'live',
      detail: { mode: 'redis', state: s.state, connected: s.connected, versionApplied: s.versionApplied, staleSeconds: s.staleSeconds, entries: s.entries, resyncs: s.resyncs },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.maintenance);
    await this.sync.close();
    await this.store.close();
  }
}
