import { DecodedPacket, IpProto, TcpFlag } from '../decode/decoded-packet.js';
import { ConfigError } from '../util/errors.js';
import {
  D_BYTES, D_ISN, D_LAST_ACK, D_NXT, D_PACKETS, D_STATE, D_VLAN, D_WINDOW, DIR_WORDS, ROW_WORDS,
  W_ADDR, W_DIR, W_FIRST_TS, W_HASH, W_INFO, W_LAST_TS, W_META, W_NEXT, W_PORTS, W_PREV, W_QUEUED_TS,
  W_VERDICT, W_VERDICT_VERSION,
} from './session-layout.js';
import {
  NATIVE_TRACK_LAYOUT, NativePacketRecord, NativeTracker, NativeTrackerFactory, ST_ACTIVE, ST_FREE_COUNT, ST_HIGH_WATER,
  ST_PEAK_ACTIVE, ST_RESULT, STATE_WORDS,
} from './native-track.js';
import { SessionState, seqAfter, tcpSessionState, TcpDirState } from './tcp-state.js';
import { DEFAULT_TIMEOUTS, SessionTimeouts, TIMEOUT_CLASS_COUNT, TimeoutClass, TimeoutClassName } from './timeouts.js';

/** Why a session left the table. */
export const EndReason = { timeout: 0, evicted: 1, reused: 2, flushed: 3 } as const;
export const endReasonNames = ['timeout', 'evicted', 'reused', 'end_of_capture'] as const;

export const SessionProto = { tcp: 0, udp: 1, other: 2 } as const;

export interface SessionTableOptions {
  /** Most sessions held at once; default 1,000,000. Memory is reserved up front but touched only as used. */
  capacity?: number;
  timeouts?: SessionTimeouts;
  /**
   * Whether VLAN tags are part of the session key (default true, as Suricata's vlan.use-for-tracking).
   * Turn it off for mirrors where the two directions of a connection arrive on different VLANs
   * (routed uplinks, router-on-a-stick); the tags each direction carried are still recorded.
   */
  vlanTracking?: boolean;
  /** Called when a session ends, before its row is reused: read it through the accessors. */
  onEnd?: (table: SessionTable, session: number, reason: number) => void;
  /**
   * The native per-packet path (native-track.ts), or null/absent for the TypeScript one. Both give the same sessions;
   * the native one is faster on large tables, most of all with look-ahead hints (lookahead(); README, engine benchmark).
   */
  nativeTracker?: NativeTrackerFactory | null;
}

const FLAG_IPV4 = 1;
const FLAG_RESPONDING = 2;
/** Per-direction flags (bits 8-15 of the direction's state word). */
const DIR_SEEN = 1 << 8;
const DIR_HAS_ISN = 2 << 8;
const DIR_HAS_ACK = 4 << 8;
const NONE = -1;
const NOT_QUEUED = 255;
/** The verdict stamp of a new row: one verdictStamp() never gives, so a new session is always matched on its first packet. */
const NO_VERDICT_VERSION = 0xffffffff;
const NO_VERDICT = 0xffffffff;
/** How often (in capture seconds) expiry walks the list heads. */
const EXPIRY_INTERVAL = 1;
/**
 * Packets on which track() calls expire() even when no check is due, with the time of the last check (a walk that
 * ends and moves nothing). V8 gives a function its type feedback only after its first calls, and TurboFan compiles
 * track() within the first few thousand packets: a call it has no feedback for costs a deoptimisation and a second
 * compile when first reached, a capture second later (~10 ms of a 0.3 s replay of a small capture, measured).
 */
const EXPIRY_WARMUP_PACKETS = 64;

/**
 * Which classes give up a session first when the table is full. Closed, half-open and one-way sessions are
 * what floods and scans create; they go before anything that has seen both directions, so a SYN flood from
 * spoofed sources cannot push established sessions out.
 */
const EVICTION_FIRST: readonly number[] = [
  TimeoutClass.tcpClosed,
  TimeoutClass.tcpHalfOpen,
  TimeoutClass.udpOneWay,
  TimeoutClass.otherOneWay,
  TimeoutClass.tcpClosing,
];
/** Among these, the least recently active session goes. */
const EVICTION_LAST: readonly number[] = [TimeoutClass.udpTwoWay, TimeoutClass.otherTwoWay, TimeoutClass.tcpEstablished];

/**
 * The L4 session table: bidirectional 5-tuple (+ VLAN tags) → session.
 *
 * - Rows: one fixed-size row per session in a single typed array (see session-layout.ts).
 * - Index: open addressing with linear probing over (hash, session + 1) pairs, load factor at most 0.5, and
 *   backward-shift deletion, so there are no tombstones and a probe rarely leaves its first cache line.
 * - Timeouts: one list per timeout class, sorted by the time each session was queued, which is never later
 *   than its last packet. A packet does not move its session in the list (that would touch three other rows
 *   per packet); expiry and eviction re-queue a head that has seen traffic since it was queued, in order,
 *   so every session is moved at most once per timeout period and a head that stays put is truly the least
 *   recently active of its class.
 *
 * Direction 0 is from the initiator (src), direction 1 from the responder (dst). Nothing is allocated per packet.
 */
export class SessionTable {
  readonly capacity: number;
  readonly timeouts: SessionTimeouts;
  readonly vlanTracking: boolean;
  private readonly timeoutByClass: Float64Array;
  private readonly onEnd: SessionTableOptions['onEnd'];

  private readonly slots: Int32Array;
  private readonly slotMask: number;
  /** Rows as 32-bit words, and the same memory as 64-bit floats. */
  private readonly rows: Uint32Array;
  private readonly rowsF64: Float64Array;

  private readonly listHead: Int32Array;
  private readonly listTail: Int32Array;
  private readonly listSize: Int32Array;

  private readonly freeList: Int32Array;
  /** Free rows, rows ever used, live and peak sessions (ST_* in native-track.ts): words the native path updates too. */
  private readonly stateWords = new Int32Array(STATE_WORDS);
  private readonly native: NativeTracker | null;
  private readonly nativeTrack: (() => void) | null;
  /** The buffer the native path was last told to look ahead in. */
  private aheadBuffer: Uint8Array | null = null;
  private readonly packetRecord: NativePacketRecord | null;
  private nextExpiryCheck = -Infinity;
  /** Capture time of the last expiry walk. */
  private lastExpiry = -Infinity;
  private expiryWarmup = EXPIRY_WARMUP_PACKETS;

  /** Direction of the packet last tracked: 0 = from the initiator, 1 = from the responder. */
  lastDirection = 0;
  /** True when the last tracked packet created its session. */
  lastCreated = false;
  /**
   * True when the native path's intel screen vouched that the last tracked packet's session is settled() at the
   * intel set's current version (see session_track.cc's Track): the match stage then need not look. False says
   * nothing: the TypeScript path and a screen out of step with the set never vouch.
   */
  lastSettled = false;

  readonly created = new Float64Array(3);
  evicted = 0;
  expired = 0;
  reused = 0;

  constructor(options: SessionTableOptions = {}) {
    const capacity = options.capacity ?? 1_000_000;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 50_000_000) {
      throw new ConfigError(`session capacity ${capacity} is out of range`, 'use a whole number from 1 to 50,000,000');
    }
    this.capacity = capacity;
    this.timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
    this.timeoutByClass = new Float64Array(TIMEOUT_CLASS_COUNT);
    for (const [name, cls] of Object.entries(TimeoutClass)) this.timeoutByClass[cls] = this.timeouts[name as TimeoutClassName];
    this.onEnd = options.onEnd;
    this.vlanTracking = options.vlanTracking ?? true;

    const slotCount = SessionTable.slotCount(capacity);
    this.slots = new Int32Array(slotCount * 2);
    this.slotMask = slotCount - 1;
    const buffer = new ArrayBuffer(capacity * ROW_WORDS * 4);
    this.rows = new Uint32Array(buffer);
    this.rowsF64 = new Float64Array(buffer);

    this.listHead = new Int32Array(TIMEOUT_CLASS_COUNT).fill(NONE);
    this.listTail = new Int32Array(TIMEOUT_CLASS_COUNT).fill(NONE);
    this.listSize = new Int32Array(TIMEOUT_CLASS_COUNT);

    this.freeList = new Int32Array(capacity);
    this.resetFreeList();

    const packetRecord = new NativePacketRecord();
    const native = options.nativeTracker
      ? options.nativeTracker({
          layout: NATIVE_TRACK_LAYOUT,
          capacity,
          slotCount,
          vlanTracking: this.vlanTracking,
          slots: this.slots,
          rows: this.rows,
          listHead: this.listHead,
          listTail: this.listTail,
          listSize: this.listSize,
          freeList: this.freeList,
          created: this.created,
          packet: packetRecord.words,
          packetTs: packetRecord.ts,
          state: this.stateWords,
        })
      : null;
    this.native = native;
    this.nativeTrack = native === null ? null : native.track;
    this.packetRecord = native === null ? null : packetRecord;
  }

  /**
   * Tells the native path where the packet after the next one lies in `data` (a capture source's buffer; length 0
   * when unknown), so that it can prefetch that packet's index slot, and then its row, while this one and the next
   * are tracked. Only a hint: it changes no result. Nothing to do on the TypeScript path, which cannot prefetch.
   */
  lookahead(data: Uint8Array, offset: number, length: number): void {
    const native = this.native;
    if (native === null) return;
    if (data !== this.aheadBuffer) {
      this.aheadBuffer = data;
      native.setAhead(data);
    }
    this.packetRecord!.ahead(offset, length);
  }

  /** The native path's intel screen loader (NativeTracker.setIntel), or null on the TypeScript path. */
  get nativeIntelScreen(): NativeTracker['setIntel'] | null {
    return this.native === null ? null : this.native.setIntel;
  }

  /** Which path tracks packets: 'native' (the addon) or 'js'. */
  get trackPath(): 'native' | 'js' {
    return this.nativeTrack === null ? 'js' : 'native';
  }

  /** Sessions in the table now. */
  get active(): number {
    return this.stateWords[ST_ACTIVE]!;
  }

  /** Most sessions held at once so far. */
  get peakActive(): number {
    return this.stateWords[ST_PEAK_ACTIVE]!;
  }

  private static slotCount(capacity: number): number {
    let slotCount = 16;
    while (slotCount < capacity * 2) slotCount *= 2;
    return slotCount;
  }

  /** Bytes of table memory per session (row, its share of the hash index, free list). */
  static bytesPerSession(capacity = 1_000_000): number {
    return ROW_WORDS * 4 + (SessionTable.slotCount(capacity) * 8) / capacity + 4;
  }

  /**
   * Finds or creates the session of a decoded packet (which must have a flow) and updates it. The capture
   * time is `pkt.ts` (seconds); `frameBytes` is the frame's length on the wire. Returns the session index.
   */
  track(pkt: DecodedPacket, frameBytes: number): number {
    const ts = pkt.ts;
    const expiryDue = ts >= this.nextExpiryCheck;
    if (expiryDue || this.expiryWarmup > 0) {
      // One call site, so that the warm-up calls give it the feedback a due check needs (EXPIRY_WARMUP_PACKETS).
      if (!expiryDue) this.expiryWarmup--;
      this.expire(expiryDue ? ts : this.lastExpiry);
    }
    const nativeTrack = this.nativeTrack;
    if (nativeTrack !== null) {
      this.packetRecord!.fill(pkt, frameBytes);
      nativeTrack();
      const code = this.stateWords[ST_RESULT]!;
      if (code >= 0) {
        this.lastSettled = (code & 4) !== 0;
        this.lastCreated = (code & 2) !== 0;
        this.lastDirection = code & 1;
        return code >>> 3;
      }
      // -1: a new connection on a session's ports, or a full table; the path below ends or evicts a session first.
    }
    const proto = pkt.l4Protocol;
    const frameVlan = (pkt.vlan0 << 12) | pkt.vlan1;
    const meta = ((proto << 24) | (this.vlanTracking ? frameVlan : 0)) >>> 0;
    const forwardPorts = ((pkt.srcPort << 16) | pkt.dstPort) >>> 0;
    const reversePorts = ((pkt.dstPort << 16) | pkt.srcPort) >>> 0;
    // IPv4 addresses are stored IPv4-mapped (0, 0, 0xffff, a): an IPv4 flow hashes and compares its last words only.
    const v4 = pkt.ipVersion === 4;
    const family = v4 ? FLAG_IPV4 : 0;
    const h = v4 ? flowHashV4(pkt, meta) : flowHash(pkt, meta);

    const rows = this.rows;
    const slots = this.slots;
    let session = NONE;
    let dir = 0;
    let slot = h & this.slotMask;
    for (; ; slot = (slot + 1) & this.slotMask) {
      const entry = slots[2 * slot + 1]!;
      if (entry === 0) break;
      if (slots[2 * slot] !== h) continue;
      const s = entry - 1;
      const r = s * ROW_WORDS;
      // The family is part of the key: an IPv6 packet between IPv4-mapped addresses is not the IPv4 flow.
      if (rows[r + W_META] !== meta || (rows[r + W_INFO]! & FLAG_IPV4) !== family) continue;
      const ports = rows[r + W_PORTS];
      if (
        ports === forwardPorts &&
        rows[r + 3] === pkt.src3 && rows[r + 7] === pkt.dst3 &&
        (v4 || (
          rows[r] === pkt.src0 && rows[r + 1] === pkt.src1 && rows[r + 2] === pkt.src2 &&
          rows[r + 4] === pkt.dst0 && rows[r + 5] === pkt.dst1 && rows[r + 6] === pkt.dst2))
      ) {
        session = s;
        dir = 0;
        break;
      }
      if (
        ports === reversePorts &&
        rows[r + 3] === pkt.dst3 && rows[r + 7] === pkt.src3 &&
        (v4 || (
          rows[r] === pkt.dst0 && rows[r + 1] === pkt.dst1 && rows[r + 2] === pkt.dst2 &&
          rows[r + 4] === pkt.src0 && rows[r + 5] === pkt.src1 && rows[r + 6] === pkt.src2))
      ) {
        session = s;
        dir = 1;
        break;
      }
    }

    this.lastCreated = false;
    this.lastSettled = false;
    if (session !== NONE && proto === IpProto.TCP && this.isNewConnection(session, dir, pkt)) {
      this.end(session, EndReason.reused);
      this.reused++;
      session = NONE;
    }
    if (session === NONE) {
      // A SYN-ACK seen first means we missed the SYN: its destination started the connection.
      const swap = proto === IpProto.TCP && (pkt.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK);
      // Insert where the lookup stopped when that slot is (still) empty: a port-reuse end only shifts entries
      // at and after it. An eviction may empty a slot anywhere on the path, so then create() probes again.
      session = this.create(pkt, meta, h, swap, this.stateWords[ST_FREE_COUNT]! > 0 && this.isEmptySlot(slot) ? slot : -1);
      dir = swap ? 1 : 0;
      this.lastCreated = true;
    }
    this.lastDirection = dir;

    const r = session * ROW_WORDS;
    const d = r + W_DIR + dir * DIR_WORDS;
    const f = d >> 1;
    this.rowsF64[f + (D_PACKETS >> 1)]! += 1;
    this.rowsF64[f + (D_BYTES >> 1)]! += frameBytes;
    const before = rows[d + D_STATE]!;
    rows[d + D_STATE] = ((before & 0xff00ffff) | DIR_SEEN | (pkt.ttl << 16)) >>> 0;
    rows[d + D_VLAN] = frameVlan;
    this.rowsF64[(r + W_LAST_TS) >> 1] = ts;
    let stateChanged = false;
    if (proto === IpProto.TCP) {
      this.trackTcp(d, pkt, (before & DIR_SEEN) === 0);
      stateChanged = ((rows[d + D_STATE]! ^ before) & 0xff) !== 0;
    }
    // Only a change of class moves the session between lists; LRU order within a list is settled lazily. The
    // class is a function of the two directions' states and of which directions were seen, so only a first
    // packet in a direction or a TCP state change can change it: most packets skip the computation.
    if ((before & DIR_SEEN) === 0 || stateChanged) {
      const cls = this.classOf(session);
      if (cls !== ((rows[r + W_INFO]! >>> 8) & 0xff)) {
        this.unlink(session);
        this.rowsF64[(r + W_QUEUED_TS) >> 1] = ts;
        this.append(cls, session);
      }
    }
    return session;
  }

  /**
   * A SYN (without ACK) whose sequence number differs from the initial one recorded for that direction is a
   * new connection reusing the ports; a retransmitted SYN keeps its number. Wireshark splits tcp.stream the same way.
   */
  private isNewConnection(session: number, dir: number, pkt: DecodedPacket): boolean {
    if ((pkt.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) !== TcpFlag.SYN) return false;
    const d = session * ROW_WORDS + W_DIR + dir * DIR_WORDS;
    return (this.rows[d + D_STATE]! & DIR_HAS_ISN) !== 0 && this.rows[d + D_ISN] !== pkt.seq;
  }

  private trackTcp(d: number, pkt: DecodedPacket, firstInDirection: boolean): void {
    const rows = this.rows;
    const flags = pkt.tcpFlags;
    const seq = pkt.seq;
    let end = (seq + pkt.payloadLength) >>> 0;
    let word = rows[d + D_STATE]!;
    const state = word & 0xff;
    let next = state;
    if (flags & TcpFlag.SYN) {
      end = (end + 1) >>> 0;
      if (!(word & DIR_HAS_ISN)) {
        rows[d + D_ISN] = seq;
        word = ((word & 0x00ffffff) | DIR_HAS_ISN | ((pkt.windowScale + 1) << 24)) >>> 0;
      }
      if (state < TcpDirState.established) next = flags & TcpFlag.ACK ? TcpDirState.synAck : TcpDirState.syn;
    } else if (flags & TcpFlag.RST) {
      next = TcpDirState.rst;
    } else if (state !== TcpDirState.rst) {
      if (flags & TcpFlag.FIN) {
        next = TcpDirState.fin;
        end = (end + 1) >>> 0;
      } else if (state < TcpDirState.established && flags & TcpFlag.ACK) {
        next = TcpDirState.established;
      }
    }
    if (firstInDirection || seqAfter(end, rows[d + D_NXT]!)) rows[d + D_NXT] = end;
    if (flags & TcpFlag.ACK) {
      if (!(word & DIR_HAS_ACK) || seqAfter(pkt.ack, rows[d + D_LAST_ACK]!)) rows[d + D_LAST_ACK] = pkt.ack;
      word |= DIR_HAS_ACK;
    }
    if (!(flags & TcpFlag.RST)) rows[d + D_WINDOW] = pkt.window;
    rows[d + D_STATE] = ((word & 0xffffff00) | next) >>> 0;
  }

  private classOf(session: number): number {
    const r = session * ROW_WORDS;
    const proto = this.rows[r + W_META]! >>> 24;
    const s0 = this.rows[r + W_DIR + D_STATE]!;
    const s1 = this.rows[r + W_DIR + DIR_WORDS + D_STATE]!;
    const twoWay = (s0 & s1 & DIR_SEEN) !== 0;
    if (proto === IpProto.TCP) {
      const state = tcpSessionState(s0 & 0xff, s1 & 0xff);
      if (state === SessionState.reset || state === SessionState.closed) return TimeoutClass.tcpClosed;
      if (state === SessionState.closing) return TimeoutClass.tcpClosing;
      if (state === SessionState.established || (state === SessionState.midstream && twoWay)) return TimeoutClass.tcpEstablished;
      return TimeoutClass.tcpHalfOpen;
    }
    if (proto === IpProto.UDP) return twoWay ? TimeoutClass.udpTwoWay : TimeoutClass.udpOneWay;
    return twoWay ? TimeoutClass.otherTwoWay : TimeoutClass.otherOneWay;
  }

  private isEmptySlot(slot: number): boolean {
    return this.slots[2 * slot + 1] === 0;
  }

  private create(pkt: DecodedPacket, meta: number, h: number, swap: boolean, emptySlot: number): number {
    const ts = pkt.ts;
    const state = this.stateWords;
    if (state[ST_FREE_COUNT] === 0) this.evictOne();
    const s = this.freeList[--state[ST_FREE_COUNT]!]!;
    if (s >= state[ST_HIGH_WATER]!) state[ST_HIGH_WATER] = s + 1;
    const rows = this.rows;
    const r = s * ROW_WORDS;
    for (let i = r; i < r + ROW_WORDS; i++) rows[i] = 0; // a loop beats fill() on 42 words
    if (swap) {
      rows[r] = pkt.dst0; rows[r + 1] = pkt.dst1; rows[r + 2] = pkt.dst2; rows[r + 3] = pkt.dst3;
      rows[r + 4] = pkt.src0; rows[r + 5] = pkt.src1; rows[r + 6] = pkt.src2; rows[r + 7] = pkt.src3;
      rows[r + W_PORTS] = ((pkt.dstPort << 16) | pkt.srcPort) >>> 0;
    } else {
      rows[r] = pkt.src0; rows[r + 1] = pkt.src1; rows[r + 2] = pkt.src2; rows[r + 3] = pkt.src3;
      rows[r + 4] = pkt.dst0; rows[r + 5] = pkt.dst1; rows[r + 6] = pkt.dst2; rows[r + 7] = pkt.dst3;
      rows[r + W_PORTS] = ((pkt.srcPort << 16) | pkt.dstPort) >>> 0;
    }
    rows[r + W_META] = meta;
    rows[r + W_HASH] = h;
    rows[r + W_INFO] = (pkt.ipVersion === 4 ? FLAG_IPV4 : 0) | (NOT_QUEUED << 8);
    rows[r + W_VERDICT_VERSION] = NO_VERDICT_VERSION;
    rows[r + W_VERDICT] = NO_VERDICT;
    this.rowsF64[(r + W_FIRST_TS) >> 1] = ts;
    this.rowsF64[(r + W_LAST_TS) >> 1] = ts;
    let slot = emptySlot;
    if (slot < 0) {
      slot = h & this.slotMask;
      while (this.slots[2 * slot + 1] !== 0) slot = (slot + 1) & this.slotMask;
    }
    this.slots[2 * slot] = h;
    this.slots[2 * slot + 1] = s + 1;
    if (++state[ST_ACTIVE]! > state[ST_PEAK_ACTIVE]!) state[ST_PEAK_ACTIVE] = state[ST_ACTIVE]!;
    const proto = meta >>> 24;
    this.created[proto === IpProto.TCP ? SessionProto.tcp : proto === IpProto.UDP ? SessionProto.udp : SessionProto.other]! += 1;
    return s;
  }

  private evictOne(): void {
    for (const cls of EVICTION_FIRST) {
      const victim = this.settledHead(cls);
      if (victim !== NONE) {
        this.evicted++;
        this.end(victim, EndReason.evicted);
        return;
      }
    }
    let victim = NONE;
    for (const cls of EVICTION_LAST) {
      const head = this.settledHead(cls);
      if (head !== NONE && (victim === NONE || this.lastTs(head) < this.lastTs(victim))) victim = head;
    }
    this.evicted++;
    this.end(victim, EndReason.evicted);
  }

  /** Re-queues heads that saw traffic since they were queued; returns the least recently active session. */
  private settledHead(cls: number): number {
    for (let s = this.listHead[cls]!; s !== NONE; s = this.listHead[cls]!) {
      const r = s * ROW_WORDS;
      const last = this.rowsF64[(r + W_LAST_TS) >> 1]!;
      if (last <= this.rowsF64[(r + W_QUEUED_TS) >> 1]!) return s;
      this.unlink(s);
      this.rowsF64[(r + W_QUEUED_TS) >> 1] = last;
      this.insertSorted(cls, s);
    }
    return NONE;
  }

  /**
   * Ends every session idle past its class timeout at capture time `now`. A head that has seen traffic since
   * it was queued goes back to the tail instead; the walk stops at the first session queued too recently to
   * have expired, since everything behind it was queued later still.
   */
  expire(now: number): void {
    this.lastExpiry = now;
    this.nextExpiryCheck = now + EXPIRY_INTERVAL;
    for (let cls = 0; cls < TIMEOUT_CLASS_COUNT; cls++) {
      const limit = now - this.timeoutByClass[cls]!;
      for (let s = this.listHead[cls]!; s !== NONE; s = this.listHead[cls]!) {
        const r = s * ROW_WORDS;
        if (this.rowsF64[(r + W_QUEUED_TS) >> 1]! > limit) break;
        const last = this.rowsF64[(r + W_LAST_TS) >> 1]!;
        if (last <= limit) {
          this.expired++;
          this.end(s, EndReason.timeout);
        } else {
          this.unlink(s);
          this.rowsF64[(r + W_QUEUED_TS) >> 1] = last;
          this.insertSorted(cls, s);
        }
      }
    }
  }

  /** Every row free, low indices handed out first so that a small capture touches little memory. */
  private resetFreeList(): void {
    const capacity = this.capacity;
    for (let i = 0; i < capacity; i++) this.freeList[i] = capacity - 1 - i;
    this.stateWords[ST_FREE_COUNT] = capacity;
  }

  /**
   * Ends every session (end of capture or shutdown) and leaves the table empty.
   * A full table is then reset at once, which spares an index probe (a cache miss) per session: a million of
   * them at the end of a large capture. A table holding few sessions ends them one by one instead, since the
   * reset writes the whole index, memory that a small capture never touched.
   */
  flush(): void {
    if (this.active * 8 < this.slotMask + 1) {
      for (let cls = 0; cls < TIMEOUT_CLASS_COUNT; cls++) {
        for (let s = this.listHead[cls]!; s !== NONE; s = this.listHead[cls]!) this.end(s, EndReason.flushed);
      }
      return;
    }
    // Rows in index order, not list order: a forward scan that the hardware prefetcher runs ahead of, where
    // following the lists' links is one dependent cache miss per session. Free rows are never queued.
    const rows = this.rows;
    for (let s = 0, r = 0, highWater = this.rowLimit; s < highWater; s++, r += ROW_WORDS) {
      const info = rows[r + W_INFO]!;
      if (((info >>> 8) & 0xff) === NOT_QUEUED) continue;
      if (this.onEnd) this.onEnd(this, s, EndReason.flushed);
      rows[r + W_INFO] = ((info & 0xffff00ff) | (NOT_QUEUED << 8)) >>> 0;
    }
    this.slots.fill(0);
    this.listHead.fill(NONE);
    this.listTail.fill(NONE);
    this.listSize.fill(0);
    this.resetFreeList();
    this.stateWords[ST_ACTIVE] = 0;
  }

  private end(session: number, reason: number): void {
    if (this.onEnd) this.onEnd(this, session, reason);
    this.unlink(session);
    this.removeFromIndex(session);
    this.freeList[this.stateWords[ST_FREE_COUNT]!++] = session;
    this.stateWords[ST_ACTIVE]!--;
  }

  /** Backward-shift deletion keeps every probe chain unbroken without tombstones. */
  private removeFromIndex(session: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    let slot = this.rows[session * ROW_WORDS + W_HASH]! & mask;
    while (slots[2 * slot + 1] !== session + 1) slot = (slot + 1) & mask;
    let hole = slot;
    for (let probe = (hole + 1) & mask; slots[2 * probe + 1] !== 0; probe = (probe + 1) & mask) {
      const home = slots[2 * probe]! & mask;
      // Move the entry back if its home is not within (hole, probe] cyclically.
      if (((probe - home) & mask) >= ((probe - hole) & mask)) {
        slots[2 * hole] = slots[2 * probe]!;
        slots[2 * hole + 1] = slots[2 * probe + 1]!;
        hole = probe;
      }
    }
    slots[2 * hole] = 0;
    slots[2 * hole + 1] = 0;
  }

  /** Queues `s` at the tail of its class list; its queued time is already on the row. */
  private append(cls: number, s: number): void {
    const rows = this.rows;
    const r = s * ROW_WORDS;
    const tail = this.listTail[cls]!;
    rows[r + W_PREV] = tail;
    rows[r + W_NEXT] = NONE;
    if (tail === NONE) this.listHead[cls] = s;
    else rows[tail * ROW_WORDS + W_NEXT] = s;
    this.listTail[cls] = s;
    this.listSize[cls]! += 1;
    rows[r + W_INFO] = ((rows[r + W_INFO]! & 0xffff00ff) | (cls << 8)) >>> 0;
  }

  /**
   * Queues `s` at its place by its queued time (set on the row by the caller), searching from the tail: a
   * re-queued session was active recently, so its place is almost always at or near the tail.
   */
  private insertSorted(cls: number, s: number): void {
    const rows = this.rows;
    const ts = this.rowsF64[(s * ROW_WORDS + W_QUEUED_TS) >> 1]!;
    let after = this.listTail[cls]!;
    while (after !== NONE && this.rowsF64[(after * ROW_WORDS + W_QUEUED_TS) >> 1]! > ts) after = rows[after * ROW_WORDS + W_PREV]! | 0;
    if (after === this.listTail[cls]) {
      this.append(cls, s);
      return;
    }
    const r = s * ROW_WORDS;
    const before = after === NONE ? this.listHead[cls]! : rows[after * ROW_WORDS + W_NEXT]! | 0;
    rows[r + W_PREV] = after;
    rows[r + W_NEXT] = before;
    if (after === NONE) this.listHead[cls] = s;
    else rows[after * ROW_WORDS + W_NEXT] = s;
    rows[before * ROW_WORDS + W_PREV] = s;
    this.listSize[cls]! += 1;
    rows[r + W_INFO] = ((rows[r + W_INFO]! & 0xffff00ff) | (cls << 8)) >>> 0;
  }

  private unlink(s: number): void {
    const rows = this.rows;
    const r = s * ROW_WORDS;
    const cls = (rows[r + W_INFO]! >>> 8) & 0xff;
    if (cls === NOT_QUEUED) return;
    const p = rows[r + W_PREV]! | 0;
    const n = rows[r + W_NEXT]! | 0;
    if (p === NONE) this.listHead[cls] = n;
    else rows[p * ROW_WORDS + W_NEXT] = n;
    if (n === NONE) this.listTail[cls] = p;
    else rows[n * ROW_WORDS + W_PREV] = p;
    this.listSize[cls]! -= 1;
    rows[r + W_INFO] = ((rows[r + W_INFO]! & 0xffff00ff) | (NOT_QUEUED << 8)) >>> 0;
  }

  // --- Read access (for output, verdicts, responses and tests). `dir` 0 = from the initiator. ---

  proto(s: number): number {
    return this.rows[s * ROW_WORDS + W_META]! >>> 24;
  }

  /** The VLAN part of the key (0 when VLAN tracking is off). */
  keyVlan(s: number): number {
    return this.rows[s * ROW_WORDS + W_META]! & 0xffffff;
  }

  isIpv4(s: number): boolean {
    return (this.rows[s * ROW_WORDS + W_INFO]! & FLAG_IPV4) !== 0;
  }

  /** Word i (0..3) of the initiator's (side 0) or responder's (side 1) address; IPv4 is word 3. */
  addressWord(s: number, side: number, i: number): number {
    return this.rows[s * ROW_WORDS + W_ADDR + side * 4 + i]!;
  }

  /** Port of the initiator (side 0) or responder (side 1). */
  port(s: number, side: number): number {
    const ports = this.rows[s * ROW_WORDS + W_PORTS]!;
    return side === 0 ? ports >>> 16 : ports & 0xffff;
  }

  firstTs(s: number): number {
    return this.rowsF64[(s * ROW_WORDS + W_FIRST_TS) >> 1]!;
  }

  lastTs(s: number): number {
    return this.rowsF64[(s * ROW_WORDS + W_LAST_TS) >> 1]!;
  }

  timeoutClassOf(s: number): number {
    return (this.rows[s * ROW_WORDS + W_INFO]! >>> 8) & 0xff;
  }

  private dirWord(s: number, dir: number, field: number): number {
    return this.rows[s * ROW_WORDS + W_DIR + dir * DIR_WORDS + field]!;
  }

  tcpState(s: number, dir: number): number {
    return this.dirWord(s, dir, D_STATE) & 0xff;
  }

  seen(s: number, dir: number): boolean {
    return (this.dirWord(s, dir, D_STATE) & DIR_SEEN) !== 0;
  }

  hasIsn(s: number, dir: number): boolean {
    return (this.dirWord(s, dir, D_STATE) & DIR_HAS_ISN) !== 0;
  }

  hasAck(s: number, dir: number): boolean {
    return (this.dirWord(s, dir, D_STATE) & DIR_HAS_ACK) !== 0;
  }

  ttl(s: number, dir: number): number {
    return (this.dirWord(s, dir, D_STATE) >>> 16) & 0xff;
  }

  /** Window scale shift from the SYN of that direction, or -1 when none was seen. */
  windowScale(s: number, dir: number): number {
    return (this.dirWord(s, dir, D_STATE) >>> 24) - 1;
  }

  /** VLAN tags (outer << 12 | inner) of the last frame from that direction. */
  dirVlan(s: number, dir: number): number {
    return this.dirWord(s, dir, D_VLAN);
  }

  window(s: number, dir: number): number {
    return this.dirWord(s, dir, D_WINDOW);
  }

  isn(s: number, dir: number): number {
    return this.dirWord(s, dir, D_ISN);
  }

  /** Highest sequence number sent + 1 (SYN and FIN count one). */
  nxt(s: number, dir: number): number {
    return this.dirWord(s, dir, D_NXT);
  }

  lastAck(s: number, dir: number): number {
    return this.dirWord(s, dir, D_LAST_ACK);
  }

  packets(s: number, dir: number): number {
    return this.rowsF64[(s * ROW_WORDS + W_DIR + dir * DIR_WORDS + D_PACKETS) >> 1]!;
  }

  bytes(s: number, dir: number): number {
    return this.rowsF64[(s * ROW_WORDS + W_DIR + dir * DIR_WORDS + D_BYTES) >> 1]!;
  }

  state(s: number): number {
    if (this.proto(s) === IpProto.TCP) return tcpSessionState(this.tcpState(s, 0), this.tcpState(s, 1));
    return this.seen(s, 1) && this.seen(s, 0) ? SessionState.twoWay : SessionState.oneWay;
  }

  /**
   * Whether the session's cached verdict was computed at intel version `version`. Never true of a session just
   * created, whatever the version (see verdictStamp), so every new session is matched on its first packet.
   */
  matchedAt(s: number, version: number): boolean {
    return this.rows[s * ROW_WORDS + W_VERDICT_VERSION] === verdictStamp(version);
  }

  /**
   * Whether the session was matched at intel version `version`, no entry applied, and nothing is being done about
   * it: a packet of such a session needs no more of the match stage. Never true of a session just created, so a
   * hold-down still sees its first packet.
   */
  settled(s: number, version: number): boolean {
    const r = s * ROW_WORDS;
    return this.matchedAt(s, version) && this.rows[r + W_VERDICT] === NO_VERDICT && (this.rows[r + W_INFO]! & FLAG_RESPONDING) === 0;
  }

  /** Cached verdict (the deciding intel entry handle, or -1) and the side it matched (0 initiator, 1 responder). */
  verdict(s: number): number {
    return this.rows[s * ROW_WORDS + W_VERDICT]! | 0;
  }

  verdictSide(s: number): number {
    return (this.rows[s * ROW_WORDS + W_INFO]! >>> 16) & 1;
  }

  /** Whether the respond stage holds a record for this session (a flag on the row: no map lookup per packet). */
  isResponding(s: number): boolean {
    return (this.rows[s * ROW_WORDS + W_INFO]! & FLAG_RESPONDING) !== 0;
  }

  setResponding(s: number): void {
    this.rows[s * ROW_WORDS + W_INFO] = (this.rows[s * ROW_WORDS + W_INFO]! | FLAG_RESPONDING) >>> 0;
  }

  setVerdict(s: number, version: number, handle: number, side: number): void {
    const r = s * ROW_WORDS;
    this.rows[r + W_VERDICT_VERSION] = verdictStamp(version);
    this.rows[r + W_VERDICT] = handle >>> 0;
    this.rows[r + W_INFO] = ((this.rows[r + W_INFO]! & 0xfffeffff) | (side << 16)) >>> 0;
  }

  /** One past the highest row index ever used: scan [0, rowLimit) with isLive() to visit every session. */
  get rowLimit(): number {
    return this.stateWords[ST_HIGH_WATER]!;
  }

  /** Whether row `s` holds a live session (every live session sits in a timeout list). */
  isLive(s: number): boolean {
    return s < this.stateWords[ST_HIGH_WATER]! && ((this.rows[s * ROW_WORDS + W_INFO]! >>> 8) & 0xff) !== NOT_QUEUED;
  }

  sessionsInClass(cls: number): number {
    return this.listSize[cls]!;
  }
}

/**
 * What a row stores of the intel version its verdict was computed at: the version's low 32 bits, except that the
 * value a new row carries (NO_VERDICT_VERSION) maps half the range away. A set's version counts every change, so a
 * long-lived sensor does reach 2^32 - 1; without the mapping, every session created at that version would count as
 * matched and never be looked up. The price: a verdict 2^31 changes old looks current, to a session with no packet
 * across all those changes.
 */
export function verdictStamp(version: number): number {
  const v = version >>> 0;
  return v === NO_VERDICT_VERSION ? 0x7fffffff : v;
}

/**
 * Direction-independent hash of the flow key: each endpoint is mixed on its own and the two are added, so
 * A→B and B→A land in the same slot without ordering the endpoints first. A few multiplies, not a full
 * murmur round per word: this runs once per packet, and linear probing only needs the low bits well mixed.
 */
function flowHash(pkt: DecodedPacket, meta: number): number {
  const a = endpointHash(pkt.src0, pkt.src1, pkt.src2, pkt.src3, pkt.srcPort);
  const b = endpointHash(pkt.dst0, pkt.dst1, pkt.dst2, pkt.dst3, pkt.dstPort);
  return mixEndpoints(a, b, meta);
}

/**
 * The hash of IPv4 flows, whose first three address words are always 0, 0, 0xffff: a different function from
 * flowHash, which is sound because the family is part of the key (an IPv4 and an IPv6 row never match).
 */
function flowHashV4(pkt: DecodedPacket, meta: number): number {
  return mixEndpoints(endpointHashV4(pkt.src3, pkt.srcPort), endpointHashV4(pkt.dst3, pkt.dstPort), meta);
}

/** The two endpoints' hashes summed (so either direction gives the same value) and mixed with the protocol and tags. */
function mixEndpoints(a: number, b: number, meta: number): number {
  let h = Math.imul((a + b) ^ meta, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

function endpointHashV4(w3: number, port: number): number {
  const h = Math.imul(w3, 0xcc9e2d51) + port;
  return Math.imul(h ^ (h >>> 16), 0x1b873593);
}

function endpointHash(w0: number, w1: number, w2: number, w3: number, port: number): number {
  const h = Math.imul(w3 ^ Math.imul(w2 ^ Math.imul(w1 ^ w0, 0x2c1b3c6d), 0x297a2d39), 0xcc9e2d51) + port;
  return Math.imul(h ^ (h >>> 16), 0x1b873593);
}
