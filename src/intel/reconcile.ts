/**
 * reconcile(): makes the in-scope part of an IntelSet equal to a list of entries, in one synchronous call, touching
 * only what differs. Used for a full resync from Redis and for a SIGHUP reload of intel files: the set is never
 * empty or half-replaced in between, because nothing else runs during a synchronous function (the sensor is
 * single-threaded), and entries that did not change keep their handles and do not move the set's version.
 *
 * Scope: entries in `entries` are applied whatever their source; entries already in the set are removed when they
 * are not in `entries` and `inScope(source)` holds. So a caller that mixes origins in one set (files and Redis)
 * passes the sources it owns. When `entries` names the same (source, id) twice, the last one wins.
 */
import type { PreparedEntry } from './entry.js';
import type { IntelSet } from './intel-set.js';
import { INDEX_BITS, INDEX_MASK, KIND_COUNT } from './kinds.js';

export interface ReconcileResult {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
}

export function reconcile(set: IntelSet, entries: Iterable<PreparedEntry>, inScope: (source: string) => boolean): ReconcileResult {
  const result: ReconcileResult = { added: 0, updated: 0, removed: 0, unchanged: 0 };
  const seen = new HandleMarks();
  for (const entry of entries) {
    const handle = set.find(entry.source, entry.explicitId ?? entry.indicator.text);
    if (handle >= 0 && sameContent(set, handle, entry)) {
      result.unchanged++;
      seen.mark(handle);
      continue;
    }
    seen.mark(set.upsertPrepared(entry));
    if (handle >= 0) result.updated++;
    else result.added++;
  }
  const stale: number[] = [];
  forEachLiveHandle(set, (handle) => {
    if (!seen.has(handle) && inScope(set.sourceOf(handle))) stale.push(handle);
  });
  for (const handle of stale) if (set.removeHandle(handle)) result.removed++;
  return result;
}

/** The differences between a set and a target list, found without blocking; applied later in one step. */
export interface ReconcilePlan {
  /** Entries to add or update. */
  readonly upserts: number;
  /** In-scope entries to remove. */
  readonly removals: number;
  readonly unchanged: number;
  /**
   * Applies the differences in one synchronous step, or returns null (changing nothing) when the set changed since
   * the plan was made: the caller then runs reconcile() instead.
   */
  apply(): ReconcileResult | null;
}

/**
 * reconcile() in two halves, for big sets: the comparison runs in slices of `slice` entries with `pause()` between
 * them (the sensor keeps matching packets meanwhile), and only the differences are applied synchronously, so the
 * step during which nothing else runs is proportional to what changed, not to the size of the set. The set must not
 * change between planning and apply(), or apply() refuses (set.version is checked).
 */
export async function planReconcile(
  set: IntelSet,
  entries: Iterable<PreparedEntry>,
  inScope: (source: string) => boolean,
  options: { slice?: number; pause?: () => Promise<void> } = {},
): Promise<ReconcilePlan> {
  const slice = options.slice ?? 4096;
  const pause = options.pause ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
  const version = set.version;
  const keep = new HandleMarks();
  const upserts: PreparedEntry[] = [];
  // Identities already among the upserts: a later duplicate must be applied too, even if it matches the set,
  // for the last one to win as in reconcile(). (A set's own entries have no duplicates; other callers may.)
  const pending = new Set<string>();
  let unchanged = 0;
  let n = 0;
  for (const entry of entries) {
    const id = entry.explicitId ?? entry.indicator.text;
    const handle = set.find(entry.source, id);
    if (handle >= 0) keep.mark(handle); // unchanged, or replaced by its upsert: not a removal either way
    if (handle >= 0 && sameContent(set, handle, entry) && (pending.size === 0 || !pending.has(`${entry.source}\u0000${id}`))) {
      unchanged++;
    } else {
      upserts.push(entry);
      pending.add(`${entry.source}\u0000${id}`);
    }
    if (++n % slice === 0) {
      await pause();
      if (set.version !== version) return stalePlan(upserts.length, 0, unchanged);
    }
  }
  const removals: number[] = [];
  let at: HandlePosition | null = { kind: 0, index: 0 };
  while (at !== null) {
    at = forEachLiveHandleFrom(set, at, slice, (handle) => {
      if (!keep.has(handle) && inScope(set.sourceOf(handle))) removals.push(handle);
    });
    if (at !== null) {
      await pause();
      if (set.version !== version) return stalePlan(upserts.length, removals.length, unchanged);
    }
  }
  return {
    upserts: upserts.length,
    removals: removals.length,
    unchanged,
    apply(): ReconcileResult | null {
      if (set.version !== version) return null;
      const result: ReconcileResult = { added: 0, updated: 0, removed: 0, unchanged };
      // Upserts first: they only replace entries of their own identity (kept out of `removals`), so every handle
      // in `removals` still names the same entry when its turn comes.
      for (const entry of upserts) {
        if (set.find(entry.source, entry.explicitId ?? entry.indicator.text) >= 0) result.updated++;
        else result.added++;
        set.upsertPrepared(entry);
      }
      for (const handle of removals) if (set.removeHandle(handle)) result.removed++;
      return result;
    },
  };
}

function stalePlan(upserts: number, removals: number, unchanged: number): ReconcilePlan {
  return { upserts, removals, unchanged, apply: () => null };
}

/** Whether the live entry behind `handle` already holds exactly `entry` (same identity assumed). */
export function sameContent(set: IntelSet, handle: number, entry: PreparedEntry): boolean {
  if (set.actionCodeOf(handle) !== entry.actionCode || set.expiresAt(handle) !== entry.expiresAt) return false;
  if (set.reasonOf(handle) !== entry.reason) return false;
  const tags = set.tagsOf(handle);
  if (tags.length !== entry.tags.length) return false;
  for (let i = 0; i < tags.length; i++) if (tags[i] !== entry.tags[i]) return false;
  return set.indicatorOf(handle) === entry.indicator.text;
}

/**
 * Calls `fn` with every live handle. Walks handles by index when the set's per-kind index limits can be read (no
 * allocation per entry); otherwise falls back to entries(), which builds a view per entry.
 */
export function forEachLiveHandle(set: IntelSet, fn: (handle: number) => void): void {
  let at: HandlePosition | null = { kind: 0, index: 0 };
  while (at !== null) at = forEachLiveHandleFrom(set, at, Number.MAX_SAFE_INTEGER, fn);
}

export interface HandlePosition {
  readonly kind: number;
  readonly index: number;
}

/**
 * Resumable walk: calls `fn` with the live handles from `from` on, looking at no more than `budget` slots, and
 * returns where to continue (null at the end). The set may change between calls: an entry that stays put is seen
 * exactly once; one added or removed meanwhile may or may not be seen. Without readable index limits the whole
 * set is walked in one call.
 */
export function forEachLiveHandleFrom(set: IntelSet, from: HandlePosition, budget: number, fn: (handle: number) => void): HandlePosition | null {
  const tops = storeTops(set);
  if (tops === null) {
    for (const view of set.entries()) fn(view.handle);
    return null;
  }
  let left = budget;
  for (let kind = from.kind; kind < KIND_COUNT; kind++) {
    const top = tops[kind]!;
    for (let index = kind === from.kind ? from.index : 0; index < top; index++) {
      if (left-- <= 0) return { kind, index };
      const handle = (kind << INDEX_BITS) | index;
      if (set.isLive(handle)) fn(handle);
    }
  }
  return null;
}

/**
 * End of each kind's index range. IntelSet keeps it private (EntryStore.top), so it is read through one checked
 * cast; if the internals change, null sends callers to the slower public path instead of a wrong answer.
 * TODO(intel owner): a public IntelSet.handleLimit(kind) would remove this cast (the API's intel-scan.ts does the same).
 */
function storeTops(set: IntelSet): number[] | null {
  const stores = (set as unknown as { stores?: unknown }).stores;
  if (!Array.isArray(stores) || stores.length !== KIND_COUNT) return null;
  const tops: number[] = [];
  for (const s of stores) {
    const top = (s as { top?: unknown }).top;
    if (typeof top !== 'number' || !Number.isInteger(top) || top < 0 || top > INDEX_MASK + 1) return null;
    tops.push(top);
  }
  return tops;
}

/** A set of handles as one growable bitmap per kind. */
class HandleMarks {
  private readonly bits: Uint8Array[] = Array.from({ length: KIND_COUNT }, () => new Uint8Array(0));

  mark(handle: number): void {
    const kind = handle >>> INDEX_BITS;
    const index = handle & INDEX_MASK;
    let b = this.bits[kind]!;
    const byte = index >>> 3;
    if (byte >= b.length) {
      const grown = new Uint8Array(Math.max(64, (byte + 1) * 2));
      grown.set(b);
      this.bits[kind] = b = grown;
    }
    b[byte]! |= 1 << (index & 7);
  }

  has(handle: number): boolean {
    const b = this.bits[handle >>> INDEX_BITS]!;
    const index = handle & INDEX_MASK;
    const byte = index >>> 3;
    return byte < b.length && (b[byte]! & (1 << (index & 7))) !== 0;
  }
}
