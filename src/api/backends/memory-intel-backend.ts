/**
 * Single-box intel backend: the API changes the sensor's own IntelSet directly (same process, same event loop,
 * so a change is in force for the very next packet). Nothing is persisted here: entries added through the API
 * last until the process ends (or until an intel file reload reconciles them away if they share its source).
 */
import type { IntelAction } from '../../intel/action.js';
import { prepareEntry, type IntelEntryInput, type PreparedEntry } from '../../intel/entry.js';
import type { IntelSet } from '../../intel/intel-set.js';
import type { ApiEntry, BackendHealth, BatchWriteResult, ChangeMeta, IntelBackend, ListPage, ListQuery, UpsertOutcome } from '../deps.js';
import { apiEntryFromHandle } from '../entry-view.js';
import { badRequest } from '../errors.js';
import { intelInputError } from '../entry-input.js';
import { decodeScanCursor, encodeScanCursor, SCAN_START, scanHandles } from './intel-scan.js';
import { findByIndicatorInSet } from './find-by-indicator.js';

export class MemoryIntelBackend implements IntelBackend {
  readonly mode = 'memory' as const;

  constructor(readonly set: IntelSet) {}

  async get(source: string, id: string): Promise<ApiEntry | null> {
    const handle = this.set.find(source, id);
    return handle < 0 ? null : apiEntryFromHandle(this.set, handle);
  }

  async upsert(input: IntelEntryInput, _meta: ChangeMeta): Promise<UpsertOutcome> {
    let prepared;
    try {
      prepared = prepareEntry(input, { nowSeconds: this.set.now(), hostBits: 'reject' });
    } catch (err) {
      throw intelInputError(err);
    }
    const existed = this.set.find(prepared.source, prepared.explicitId ?? prepared.indicator.text) >= 0;
    const handle = this.set.upsertPrepared(prepared);
    return { entry: apiEntryFromHandle(this.set, handle), created: !existed, version: this.set.version, applied: true };
  }

  async upsertBatch(entries: readonly PreparedEntry[], _meta: ChangeMeta): Promise<BatchWriteResult> {
    const set = this.set;
    const statuses = new Uint8Array(entries.length);
    entries.forEach((e, i) => {
      statuses[i] = set.find(e.source, e.explicitId ?? e.indicator.text) < 0 ? 1 : 2;
      set.upsertPrepared(e);
    });
    return { statuses, version: set.version };
  }

  async remove(source: string, id: string, _meta: ChangeMeta): Promise<ApiEntry | null> {
    const handle = this.set.find(source, id);
    if (handle < 0) return null;
    const entry = apiEntryFromHandle(this.set, handle);
    this.set.removeHandle(handle);
    return entry;
  }

  findByIndicator(indicator: string, actions: readonly IntelAction[]): Promise<ApiEntry[]> {
    return findByIndicatorInSet(this.set, indicator, actions);
  }

  async list(query: ListQuery): Promise<ListPage> {
    const from = query.cursor === undefined ? SCAN_START : decodeScanCursor(query.cursor);
    if (from === null) throw badRequest('invalid_cursor', 'cursor: not a cursor from a previous page of this list', 'cursor');
    const set = this.set;
    const actions = query.actions;
    const { source, tag, expiringBefore } = query;
    const result = scanHandles(
      set,
      from,
      query.limit,
      (h) => {
        if (!actions.includes(set.actionOf(h))) return false;
        if (source !== undefined && set.sourceOf(h) !== source) return false;
        if (expiringBefore !== undefined) {
          const at = set.expiresAt(h);
          if (at === 0 || at >= expiringBefore) return false;
        }
        if (tag !== undefined && !set.tagsOf(h).includes(tag)) return false;
        return true;
      },
      { kinds: query.kind ? [query.kind] : undefined },
    );
    return { entries: result.handles.map((h) => apiEntryFromHandle(set, h)), nextCursor: result.next ? encodeScanCursor(result.next) : null };
  }

  async waitApplied(): Promise<boolean> {
    return true;
  }

  health(): BackendHealth {
    return { ok: true, detail: { mode: 'memory', entries: this.set.size, version: this.set.version } };
  }

  async close(): Promise<void> {
    // the set belongs to the sensor
  }
}

