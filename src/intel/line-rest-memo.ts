/**
 * Prepared parts (action, expiry, source, reason, tags, id: everything but the indicator) by the text that follows
 * a line's indicator, for one load. A feed writes the same tail on most of its lines
 * (`,block,7d,abuse-feed,botnet C2,c2;tier-1`), so a line whose tail was seen before needs only its indicator
 * parsed: the tail's fields are not split, read, checked or normalised again (0.3–0.4 s of a 1 M-line JSON-lines
 * load, measured). The format decides where a tail starts and when that split is exact (intel-file.ts).
 *
 * Only tails whose line loaded are kept, so a bad field is reported on every line that has it. Bounded: at most
 * LIMIT tails of at most MAX_CHARS characters, copied (a slice of the line would keep its whole read chunk alive).
 * A file whose tails do not repeat (an id or a timestamp on every line), or cannot be kept, turns the memo off as
 * soon as more than LIMIT lookups have missed without teaching it a tail and such misses outnumber hits, so that
 * the load stops paying for lookups.
 */
import type { PreparedParts } from './entry.js';
import { detachString } from './interner.js';

const LIMIT = 4096;
const MAX_CHARS = 256;

export class LineRestMemo {
  private readonly parts = new Map<string, PreparedParts>();
  private hits = 0;
  /** Lookups that missed and whose tail was not kept after: a miss that teaches the memo a tail is not wasted. */
  private misses = 0;
  /** False once tails have proved not to repeat. */
  enabled = true;

  /** The parts kept for this tail, or undefined. */
  get(rest: string): PreparedParts | undefined {
    const parts = this.parts.get(rest);
    if (parts !== undefined) this.hits++;
    else if (++this.misses > LIMIT && this.misses > this.hits) this.enabled = false;
    return parts;
  }

  /** Keeps the parts of a line that loaded. A tag list is shared by every later line, so only a frozen one is kept. */
  set(rest: string, parts: PreparedParts): void {
    if (!this.enabled || this.parts.size >= LIMIT || rest.length > MAX_CHARS || !Object.isFrozen(parts.tags)) return;
    this.misses--;
    this.parts.set(detachString(rest), Object.freeze({
      action: parts.action,
      actionCode: parts.actionCode,
      expiresAt: parts.expiresAt,
      source: detachString(parts.source),
      reason: detachString(parts.reason),
      tags: parts.tags,
      profileSlot: parts.profileSlot,
      id: parts.id === null ? null : detachString(parts.id),
    }));
  }
}
