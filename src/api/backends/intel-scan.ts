/**
 * Resumable scan over an IntelSet's entries by handle, for cursor pagination and filters in the API.
 *
 * IntelSet.entries() can only start from the beginning (and builds a view per entry), which makes page N of a
 * 1 M-entry list cost N pages of work. Entries are handles (kind << 27 | index) and IntelSet.isLive() tells a
 * live index from a free one, but the end of each kind's index range is private (EntryStore.top), so it is read
 * here through one narrow, checked cast. If that internal ever changes, `storeTops` throws at once and the API
 * tests fail, rather than lists silently coming back short.
 * TODO(intel owner): a public `IntelSet.handleLimit(kind)` or `scan(fromHandle)` would remove this cast.
 */
import type { IntelSet } from '../../intel/intel-set.js';
import { INDEX_BITS, KIND_COUNT, KIND_NAMES } from '../../intel/kinds.js';
import type { IndicatorKind } from '../../intel/indicator.js';

export function storeTops(set: IntelSet): number[] {
  const stores = (set as unknown as { stores?: unknown }).stores;
  if (!Array.isArray(stores) || stores.length !== KIND_COUNT) throw new Error('IntelSet internals changed: no per-kind stores');
  return stores.map((s: unknown) => {
    const top = (s as { top?: unknown }).top;
    if (typeof top !== 'number' || !Number.isInteger(top) || top < 0) throw new Error('IntelSet internals changed: no store top');
    return top;
  });
}

/** Position of a scan: the next (kind, index) to look at. */
export interface ScanPosition {
  readonly kind: number;
  readonly index: number;
}

export const SCAN_START: ScanPosition = { kind: 0, index: 0 };

export function encodeScanCursor(p: ScanPosition): string {
  return `m${p.kind}.${p.index.toString(36)}`;
}

/** Null when the text is not a cursor this scan made. */
export function decodeScanCursor(text: string): ScanPosition | null {
  const m = /^m([0-9])\.([0-9a-z]{1,7})$/.exec(text);
  if (!m) return null;
  const kind = Number(m[1]);
  const index = parseInt(m[2]!, 36);
  if (kind >= KIND_COUNT || !Number.isSafeInteger(index) || index >= 1 << INDEX_BITS) return null;
  return { kind, index };
}

export interface ScanResult {
  readonly handles: number[];
  /** Where to continue, or null when the set was scanned to the end. */
  readonly next: ScanPosition | null;
}

/**
 * Collects up to `limit` live handles accepted by `accept`, starting at `from`, looking at no more than `budget`
 * indexes (so one request's work is bounded even when a filter matches nothing). `kinds` restricts the kinds.
 */
export function scanHandles(
  set: IntelSet,
  from: ScanPosition,
  limit: number,
  accept: (handle: number) => boolean,
  options: { budget?: number; kinds?: readonly IndicatorKind[] } = {},
): ScanResult {
  const tops = storeTops(set);
  const handles: number[] = [];
  let budget = options.budget ?? 200_000;
  for (let kind = from.kind; kind < KIND_COUNT; kind++) {
    if (options.kinds && !options.kinds.includes(KIND_NAMES[kind]!)) continue;
    const top = tops[kind]!;
    for (let index = kind === from.kind ? from.index : 0; index < top; index++) {
      if (handles.length >= limit || budget <= 0) return { handles, next: { kind, index } };
      budget--;
      const handle = (kind << INDEX_BITS) | index;
      if (set.isLive(handle) && accept(handle)) handles.push(handle);
    }
  }
  return { handles, next: null };
}
