/**
 * What the API routes run on. The same routes serve two modes:
 * - Redis mode (`offpath api --redis URL`): intel writes go through the Redis intel store, `check` reads an
 *   in-memory IntelSet that a RedisIntelSync keeps in step, tokens / audit / fleet live in Redis;
 * - single-box mode (`offpath sensor --api HOST:PORT` without Redis): the sensor's own IntelSet, a LocalFleet,
 *   an in-memory audit ring and a tokens file.
 */
import type { IntelAction } from '../intel/action.js';
import type { IntelEntryInput, PreparedEntry } from '../intel/entry.js';
import type { IndicatorKind } from '../intel/indicator.js';
import type { IntelSet } from '../intel/intel-set.js';
import type { FleetView } from '../fleet/types.js';
import type { AuditLog } from './audit/audit-log.js';
import type { TokenStore } from './auth/token-store.js';

/** An intel entry as the API shows it. */
export interface ApiEntry {
  readonly id: string;
  readonly source: string;
  /** Canonical indicator text. */
  readonly indicator: string;
  readonly kind: IndicatorKind;
  readonly action: IntelAction;
  /** ISO-8601, or null for never. */
  readonly expiresAt: string | null;
  readonly reason: string;
  readonly tags: readonly string[];
}

/** Who makes a change (carried into the intel store's change stream and the audit trail). */
export interface ChangeMeta {
  readonly actor: string;
  readonly address?: string;
}

export interface UpsertOutcome {
  readonly entry: ApiEntry;
  readonly created: boolean;
  /** Intel version after the change. */
  readonly version: number;
  /** Whether the API's own set (the one `check` reads) already holds the change. */
  readonly applied: boolean;
}

/** Results of a batch write, in input order. */
export interface BatchWriteResult {
  /** Per entry: 1 created, 2 updated, 0 the same content was already stored (an update that changed nothing). */
  readonly statuses: Uint8Array;
  /** Intel version after the batch (0 when nothing was written). */
  readonly version: number;
}

export interface ListQuery {
  readonly cursor?: string;
  readonly limit: number;
  readonly kind?: IndicatorKind;
  /** Entries with one of these actions. */
  readonly actions: readonly IntelAction[];
  readonly source?: string;
  readonly tag?: string;
  /** Entries expiring strictly before this time (epoch seconds); entries that never expire are left out. */
  readonly expiringBefore?: number;
}

export interface ListPage {
  readonly entries: ApiEntry[];
  /** Pass back as `cursor` for the next page; null at the end. */
  readonly nextCursor: string | null;
}

export interface BackendHealth {
  readonly ok: boolean;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface IntelBackend {
  readonly mode: 'redis' | 'memory';
  /** The set `check` reads: the same matcher code the sensors run. */
  readonly set: IntelSet;
  get(source: string, id: string): Promise<ApiEntry | null>;
  /** `input` is already validated (prepareEntry) by the route. */
  upsert(input: IntelEntryInput, meta: ChangeMeta): Promise<UpsertOutcome>;
  /** Upserts a batch of validated entries; one status per entry, in order, and the intel version after it. */
  upsertBatch(entries: readonly PreparedEntry[], meta: ChangeMeta): Promise<BatchWriteResult>;
  /** Removes (source, id); returns what was removed, or null. */
  remove(source: string, id: string, meta: ChangeMeta): Promise<ApiEntry | null>;
  /** Every entry (any source) whose canonical indicator is `indicator` and whose action is one of `actions`. */
  findByIndicator(indicator: string, actions: readonly IntelAction[]): Promise<ApiEntry[]>;
  list(query: ListQuery): Promise<ListPage>;
  /** Waits (at most `timeoutMs`) until the set `check` reads holds intel version `version`; true when it does. */
  waitApplied(version: number, timeoutMs: number): Promise<boolean>;
  health(): BackendHealth;
  close(): Promise<void>;
}

export interface ApiDeps {
  readonly intel: IntelBackend;
  readonly tokens: TokenStore;
  readonly audit: AuditLog;
  readonly fleet: FleetView;
}
