import type { IntelSet } from '../intel/intel-set.js';
import type { IntelLookupView } from '../intel/lookup-index.js';
import type { NativeTracker } from '../session/native-track.js';
import { verdictStamp } from '../session/session-table.js';

/**
 * The screen's words (Int32Array, read by native-bindings/src/intel_screen.h): whether to screen new sessions, the
 * verdict stamp a screened one gets, and the scalars of the set that matchV4 and matchV6 read besides its arrays.
 */
export const SW_ON = 0;
export const SW_STAMP = 1;
export const SW_CIDR4_MASK = 2;
export const SW_PORT4_SIZE = 3;
export const SW_V6_SIZE = 4;
export const SW_PORT6_SIZE = 5;
/** Four words, as IntelLookupView.cidr6Mask. */
export const SW_CIDR6_MASK = 6;
/** The set's lookupEpoch these words were written at: the native side trusts them only while it is the set's own. */
export const SW_EPOCH = 10;
export const SCREEN_WORDS = 11;

/**
 * Keeps the session tracker's native intel screen in step with the intel set. The screen is part of the match stage:
 * when the native path creates a session, it proves from the set's own arrays that no entry could apply to
 * either endpoint (no key in any table matchV4 would probe, live or not), and then settles the session's verdict
 * as SessionMatcher.refresh would (no match, at the set's version). Anything else, a key found, the screen off, is
 * decided by SessionMatcher on the same packet. So the rules stay in one place, the set's arrays, and one
 * matcher decides every match; the screen only spares it the sessions it would find clean (nine in ten and more),
 * whose stage cost 9-13 % of a replay of a million flows (test/bench/HISTORY.md, session 18).
 *
 * The native side also tells the engine, with each packet, whether the session is settled (matched at the set's
 * version, no verdict, no response under way); it trusts the words only while SW_EPOCH equals the set's live
 * epoch (IntelSet.epochWord), so after any change of the set it screens nothing and settles nothing until the engine,
 * handed such a packet, runs sync(). sync() hands the native side fresh arrays when the set replaced any, and turns
 * the screen off while a table grows, since keys then sit in arrays the views leave out.
 */
export class NativeScreen {
  private readonly words = new Int32Array(SCREEN_WORDS);
  private readonly screenedCount = new Float64Array(1);
  /** The set's lookupEpoch at the last sync (-1: never synced). */
  epoch = -1;
  private loaded: IntelLookupView | null = null;

  constructor(
    private readonly intel: IntelSet,
    private readonly setIntel: NativeTracker['setIntel'],
  ) {}

  /** Sessions the screen settled as clean. */
  get screened(): number {
    return this.screenedCount[0]!;
  }

  /** Whether new sessions are being screened (false while a table grows). */
  get on(): boolean {
    return this.words[SW_ON] === 1;
  }

  sync(): void {
    const intel = this.intel;
    this.epoch = intel.lookupEpoch;
    const view = intel.lookupView();
    if (view.growing) {
      this.words[SW_ON] = 0;
      return;
    }
    if (this.loaded === null || !sameArrays(this.loaded, view)) {
      this.words[SW_ON] = 0;
      this.setIntel({ ...view, words: this.words, epoch: intel.epochWord, screened: this.screenedCount });
      this.loaded = view;
    }
    this.words[SW_STAMP] = verdictStamp(intel.version);
    this.words[SW_CIDR4_MASK] = view.cidr4Mask;
    this.words[SW_PORT4_SIZE] = view.port4Size;
    this.words[SW_V6_SIZE] = view.v6Size;
    this.words[SW_PORT6_SIZE] = view.port6Size;
    for (let w = 0; w < 4; w++) this.words[SW_CIDR6_MASK + w] = view.cidr6Mask[w]!;
    this.words[SW_EPOCH] = this.epoch;
    this.words[SW_ON] = 1;
  }
}

function sameArrays(a: IntelLookupView, b: IntelLookupView): boolean {
  if (a.exact16 !== b.exact16 || a.summary16 !== b.summary16 || a.v4.slots !== b.v4.slots || a.v4.filter !== b.v4.filter) return false;
  if (a.port4.slots !== b.port4.slots || a.v6.slots !== b.v6.slots || a.port6.slots !== b.port6.slots) return false;
  for (let len = 0; len < a.cidr4.length; len++) {
    if (a.cidr4[len]!.slots !== b.cidr4[len]!.slots || a.cidr4[len]!.filter !== b.cidr4[len]!.filter) return false;
  }
  for (let len = 0; len < a.cidr6.length; len++) if (a.cidr6[len]!.slots !== b.cidr6[len]!.slots) return false;
  return true;
}
