/**
 * Every entry of a set with a given indicator, whatever its source or id (delete-by-indicator). The set has no
 * public index from indicator to all of its entries, so this scans the indicator's kind, in slices that yield to
 * the event loop: in single-box mode that loop also carries the sensor's packets.
 */
import type { IntelAction } from '../../intel/action.js';
import { IndicatorError } from '../../intel/errors.js';
import { parseIndicator } from '../../intel/indicator.js';
import type { IntelSet } from '../../intel/intel-set.js';
import type { ApiEntry } from '../deps.js';
import { apiEntryFromHandle } from '../entry-view.js';
import { badRequest } from '../errors.js';
import { SCAN_START, scanHandles, type ScanPosition } from './intel-scan.js';

const SLICE = 50_000;

export async function findByIndicatorInSet(set: IntelSet, indicator: string, actions: readonly IntelAction[]): Promise<ApiEntry[]> {
  let text: string;
  let kind;
  try {
    const parsed = parseIndicator(indicator, { hostBits: 'reject' });
    text = parsed.text;
    kind = parsed.kind;
  } catch (err) {
    if (err instanceof IndicatorError) throw badRequest('invalid_indicator', `indicator: ${err.message}`, 'indicator');
    throw err;
  }
  const found: number[] = [];
  let position: ScanPosition | null = SCAN_START;
  while (position !== null) {
    const page = scanHandles(set, position, Number.MAX_SAFE_INTEGER, (h) => set.indicatorOf(h) === text && actions.includes(set.actionOf(h)), {
      kinds: [kind],
      budget: SLICE,
    });
    found.push(...page.handles);
    position = page.next;
    if (position !== null) await new Promise((resolve) => setImmediate(resolve));
  }
  // The set may have changed between slices (a freed handle can be reused): check the finds again.
  const matches = (h: number): boolean => set.isLive(h) && set.indicatorOf(h) === text && actions.includes(set.actionOf(h));
  return found.filter(matches).map((h) => apiEntryFromHandle(set, h));
}
