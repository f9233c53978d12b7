/** IntelSet entries as the API shows them. */
import type { IntelEntryView, IntelSet } from '../intel/intel-set.js';
import type { ApiEntry } from './deps.js';

export function isoFromEpoch(seconds: number | null): string | null {
  return seconds === null || seconds === 0 ? null : new Date(seconds * 1000).toISOString();
}

export function apiEntryFromView(view: IntelEntryView): ApiEntry {
  return {
    id: view.id,
    source: view.source,
    indicator: view.indicator,
    kind: view.kind,
    action: view.action,
    expiresAt: isoFromEpoch(view.expiresAt),
    reason: view.reason,
    tags: view.tags,
  };
}

export function apiEntryFromHandle(set: IntelSet, handle: number): ApiEntry {
  return apiEntryFromView(set.entry(handle));
}
