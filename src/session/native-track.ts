/**
 * The contract between SessionTable and the native per-packet path (native-bindings/src/session_track.cc): the
 * packet record TypeScript fills before each call, the table's state words both sides update, and the arrays the
 * native side works on in place. The session module only describes the contract; whoever builds the table (the
 * engine) decides whether to load the addon and hands over a factory.
 *
 * Keep NATIVE_TRACK_LAYOUT in step with kLayoutVersion in session_track.cc: bump both when the row layout
 * (session-layout.ts), the packet record or the state words change.
 */
import type { DecodedPacket } from '../decode/decoded-packet.js';
import type { IntelLookupView } from '../intel/lookup-index.js';

export const NATIVE_TRACK_LAYOUT = 4;

/**
 * Packet record: 32 words, the timestamp a double at words 22-23 (P_TS_F64 in the Float64Array view), then where the
 * packet after the next one lies in the look-ahead buffer (SessionTable.lookahead).
 */
export const PACKET_WORDS = 32;
const P_SRC = 0;
const P_DST = 4;
const P_SPORT = 8;
const P_DPORT = 9;
const P_PROTO = 10;
const P_VLAN0 = 11;
const P_VLAN1 = 12;
const P_FLAGS = 13;
const P_SEQ = 14;
const P_ACK = 15;
const P_WINDOW = 16;
const P_TTL = 17;
const P_PAYLOAD = 18;
const P_WSCALE = 19;
const P_IPVER = 20;
const P_FRAME_BYTES = 21;
const P_TS_F64 = 11;
const P_AHEAD_OFFSET = 24;
const P_AHEAD_LENGTH = 25;

/**
 * State words (Int32Array), shared by both paths: the free list's length, rows ever used, live and peak sessions;
 * and the native call's result (see NativeTrack).
 */
export const ST_FREE_COUNT = 0;
export const ST_HIGH_WATER = 1;
export const ST_ACTIVE = 2;
export const ST_PEAK_ACTIVE = 3;
export const ST_RESULT = 4;
export const STATE_WORDS = 5;

/** What the native side needs of one table; it keeps references to every array for as long as it lives. */
export interface NativeTrackerOptions {
  layout: number;
  capacity: number;
  slotCount: number;
  vlanTracking: boolean;
  slots: Int32Array;
  rows: Uint32Array;
  listHead: Int32Array;
  listTail: Int32Array;
  listSize: Int32Array;
  freeList: Int32Array;
  created: Float64Array;
  packet: Uint32Array;
  packetTs: Float64Array;
  state: Int32Array;
}

/**
 * The native path of one table. track() tracks the packet in the record and leaves in the state word ST_RESULT
 * session * 8 + settled * 4 + created * 2 + direction, or -1 (nothing changed) for what only the TypeScript path does:
 * a SYN that starts a new connection on a session's ports, or a full table. `settled`: the intel screen, in step
 * with the set, vouches that the session is settled() at the set's version (see SessionTable.lastSettled). It
 * returns nothing (a returned number would cost a handle per call).
 */
export interface NativeTracker {
  track(): void;
  /** The buffer the record's look-ahead offsets point into (a capture source's `data`), or null. */
  setAhead(buffer: Uint8Array | null): void;
  /**
   * Loads the intel screen's tables (src/match/native-screen.ts), or unloads it with null. With the screen on, a
   * new session that no intel entry could apply to gets its verdict settled by the native call (no match, at
   * the stamp the screen's words give); any other stays for the match stage. Throws a TypeError for malformed tables.
   */
  setIntel(tables: NativeIntelTables | null): void;
}

/** What setIntel takes: the set's lookup structures (IPv4 and IPv6), the screen's words and counter (native-screen.ts). */
export interface NativeIntelTables extends IntelLookupView {
  readonly words: Int32Array;
  /** IntelSet.epochWord: the set's live lookup epoch. */
  readonly epoch: Int32Array;
  readonly screened: Float64Array;
}

/** Builds the native path for one table (the addon's createSessionTracker), or null: this table tracks in TypeScript. */
export type NativeTrackerFactory = (options: NativeTrackerOptions) => NativeTracker | null;

/** The reused packet record: one ArrayBuffer, seen as words and, for the timestamp, as a double. */
export class NativePacketRecord {
  readonly words: Uint32Array;
  readonly ts: Float64Array;

  constructor() {
    const buffer = new ArrayBuffer(PACKET_WORDS * 4);
    this.words = new Uint32Array(buffer);
    this.ts = new Float64Array(buffer, P_TS_F64 * 8, 1);
  }

  /** Copies what the native path reads of a decoded packet (with a flow). */
  fill(pkt: DecodedPacket, frameBytes: number): void {
    const w = this.words;
    w[P_SRC] = pkt.src0;
    w[P_SRC + 1] = pkt.src1;
    w[P_SRC + 2] = pkt.src2;
    w[P_SRC + 3] = pkt.src3;
    w[P_DST] = pkt.dst0;
    w[P_DST + 1] = pkt.dst1;
    w[P_DST + 2] = pkt.dst2;
    w[P_DST + 3] = pkt.dst3;
    w[P_SPORT] = pkt.srcPort;
    w[P_DPORT] = pkt.dstPort;
    w[P_PROTO] = pkt.l4Protocol;
    w[P_VLAN0] = pkt.vlan0;
    w[P_VLAN1] = pkt.vlan1;
    w[P_FLAGS] = pkt.tcpFlags;
    w[P_SEQ] = pkt.seq;
    w[P_ACK] = pkt.ack;
    w[P_WINDOW] = pkt.window;
    w[P_TTL] = pkt.ttl;
    w[P_PAYLOAD] = pkt.payloadLength;
    w[P_WSCALE] = pkt.windowScale;
    w[P_IPVER] = pkt.ipVersion;
    w[P_FRAME_BYTES] = frameBytes;
    this.ts[0] = pkt.ts;
  }

  /** Where the packet after the next one lies in the look-ahead buffer; a length of 0 when unknown. */
  ahead(offset: number, length: number): void {
    this.words[P_AHEAD_OFFSET] = offset;
    this.words[P_AHEAD_LENGTH] = length;
  }
}
