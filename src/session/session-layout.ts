/**
 * Layout of one session row in the table's single Uint32Array (with a Float64Array view over the same
 * buffer for timestamps and counters). One row per session keeps everything a packet touches within three
 * cache lines, where one array per field would cost a cache miss per field.
 *
 * Words (4 bytes each); f64 fields sit on even words so that word/2 indexes the Float64Array view.
 */
export const ROW_WORDS = 42;

// Key: initiator address (4 words), responder address (4 words), ports, protocol + key VLAN.
export const W_ADDR = 0;
export const W_PORTS = 8; // initiator port << 16 | responder port
export const W_META = 9; // protocol << 24 | key VLAN (outer << 12 | inner; 0 when VLAN tracking is off)
export const W_HASH = 10;
export const W_INFO = 11; // session flags (bits 0-7) | timeout class << 8 | verdict side << 16
export const W_PREV = 12;
export const W_NEXT = 13;
export const W_FIRST_TS = 14; // f64
export const W_LAST_TS = 16; // f64
export const W_QUEUED_TS = 18; // f64: when the session was last (re)queued in its timeout list
/** Per-direction blocks: direction 0 (from the initiator) at W_DIR, direction 1 at W_DIR + DIR_WORDS. */
export const W_DIR = 20;
export const DIR_WORDS = 10;
export const D_STATE = 0; // TCP state (bits 0-7) | dir flags << 8 | TTL << 16 | (window scale + 1) << 24
export const D_VLAN = 1;
export const D_WINDOW = 2;
export const D_ISN = 3;
export const D_NXT = 4;
export const D_LAST_ACK = 5;
export const D_PACKETS = 6; // f64
export const D_BYTES = 8; // f64
/** Reserved for the verdict stage: intel version the verdict was computed at, and the verdict itself. */
export const W_VERDICT_VERSION = 40;
export const W_VERDICT = 41;
