import { DecodedPacket, IpProto, TcpFlag } from '../decode/decoded-packet.js';
import { ConfigError } from '../util/errors.js';
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
  /** Called when a session ends, before its slot is reused: read it through the accessors. */
  onEnd?: (table: SessionTable, session: number, reason: number) => void;
}

const FLAG_IPV4 = 1;
/** Per direction: flags in dirFlags. */
const DIR_SEEN = 1;
const DIR_HAS_ISN = 2;
const DIR_HAS_ACK = 4;
const NONE = -1;
/** How often (in capture seconds) expiry walks the list heads. */
const EXPIRY_INTERVAL = 1;

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
 * The L4 session table: bidirectional 5-tuple (+ VLAN tags) → session, in an open-addressed hash table
 * (linear probing, backward-shift deletion) over struct-of-arrays storage. Nothing is allocated per packet.
 *
 * Direction 0 is the initiator (src), direction 1 the responder (dst). Per-direction arrays are indexed by
 * 2·session + direction.
 */
export class SessionTable {
  readonly capacity: number;
  readonly timeouts: SessionTimeouts;
  readonly vlanTracking: boolean;
  private readonly timeoutByClass: Float64Array;
  private readonly onEnd: SessionTableOptions['onEnd'];

  // Hash index: slot → session + 1 (0 = empty).
  private readonly slots: Int32Array;
  private readonly slotMask: number;

  // Per-session columns.
  /** Initiator address words 0..3, then responder words 0..3. */
  readonly addr: Uint32Array;
  /** Initiator port << 16 | responder port. */
  readonly ports: Uint32Array;
  readonly proto: Uint8Array;
  /** Key VLAN: outer VLAN id << 12 | inner VLAN id (0 when VLAN tracking is off). */
  readonly vlan: Uint32Array;
  readonly hash: Uint32Array;
  readonly sessionFlags: Uint8Array;
  readonly firstTs: Float64Array;
  readonly lastTs: Float64Array;
  readonly timeoutClass: Uint8Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;

  // Per-direction columns.
  readonly tcpState: Uint8Array;
  readonly dirFlags: Uint8Array;
  readonly ttl: Uint8Array;
  readonly windowScale: Int8Array;
  /** Tags of the last frame seen from this direction (outer << 12 | inner): a reset towards the other side copies them. */
  readonly dirVlan: Uint32Array;
  readonly window: Uint16Array;
  /** Initial sequence number (from the SYN or SYN-ACK). */
  readonly isn: Uint32Array;
  /** Highest sequence number sent + 1 (SYN and FIN count one each). */
  readonly nxt: Uint32Array;
  /** Highest acknowledgement number sent. */
  readonly lastAck: Uint32Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;

  // LRU lists, one per timeout class: head is the least recently active.
  private readonly listHead: Int32Array;
  private readonly listTail: Int32Array;
  private readonly listSize: Int32Array;

  private readonly freeList: Int32Array;
  private freeCount: number;
  private nextExpiryCheck = -Infinity;

  /** Direction of the packet last tracked: 0 = from the initiator, 1 = from the responder. */
  lastDirection = 0;
  /** True when the last tracked packet created its session. */
  lastCreated = false;

  active = 0;
  peakActive = 0;
  readonly created = new Float64Array(3);
  evicted = 0;
  expired = 0;
  reused = 0;

  constructor(options: SessionTableOptions = {}) {
    const capacity = options.capacity ?? 1_000_000;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 100_000_000) {
      throw new ConfigError(`session capacity ${capacity} is out of range`, 'use a whole number from 1 to 100,000,000');
    }
    this.capacity = capacity;
    this.timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
    this.timeoutByClass = new Float64Array(TIMEOUT_CLASS_COUNT);
    for (const [name, cls] of Object.entries(TimeoutClass)) this.timeoutByClass[cls] = this.timeouts[name as TimeoutClassName];
    this.onEnd = options.onEnd;
    this.vlanTracking = options.vlanTracking ?? true;

    let slotCount = 16;
    while (slotCount < capacity * 2) slotCount *= 2; // load factor at most 0.5 keeps probe chains short
    this.slots = new Int32Array(slotCount);
    this.slotMask = slotCount - 1;

    this.addr = new Uint32Array(capacity * 8);
    this.ports = new Uint32Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.vlan = new Uint32Array(capacity);
    this.hash = new Uint32Array(capacity);
    this.sessionFlags = new Uint8Array(capacity);
    this.firstTs = new Float64Array(capacity);
    this.lastTs = new Float64Array(capacity);
    this.timeoutClass = new Uint8Array(capacity);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);

    const dirs = capacity * 2;
    this.tcpState = new Uint8Array(dirs);
    this.dirFlags = new Uint8Array(dirs);
    this.ttl = new Uint8Array(dirs);
    this.windowScale = new Int8Array(dirs);
    this.dirVlan = new Uint32Array(dirs);
    this.window = new Uint16Array(dirs);
    this.isn = new Uint32Array(dirs);
    this.nxt = new Uint32Array(dirs);
    this.lastAck = new Uint32Array(dirs);
    this.packets = new Float64Array(dirs);
    this.bytes = new Float64Array(dirs);

    this.listHead = new Int32Array(TIMEOUT_CLASS_COUNT).fill(NONE);
    this.listTail = new Int32Array(TIMEOUT_CLASS_COUNT).fill(NONE);
    this.listSize = new Int32Array(TIMEOUT_CLASS_COUNT);

    // Hand out low indices first so that a small capture touches little memory.
    this.freeList = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeList[i] = capacity - 1 - i;
    this.freeCount = capacity;
  }

  /** Bytes of table memory per session slot (all columns, hash index included). */
  static bytesPerSession(capacity = 1_000_000): number {
    let slotCount = 16;
    while (slotCount < capacity * 2) slotCount *= 2;
    const perSession = 8 * 4 + 4 + 1 + 4 + 4 + 1 + 8 + 8 + 1 + 4 + 4 + 4; // columns + free list
    const perDirection = 1 + 1 + 1 + 1 + 4 + 2 + 4 + 4 + 4 + 8 + 8;
    return perSession + 2 * perDirection + (slotCount * 4) / capacity;
  }

  /**
   * Finds or creates the session of a decoded packet (which must have a flow) and updates it.
   * `ts` is the capture time in seconds; `frameBytes` the frame's length on the wire. Returns the session index.
   */
  track(pkt: DecodedPacket, ts: number, frameBytes: number): number {
    if (ts >= this.nextExpiryCheck) this.expire(ts);
    const proto = pkt.l4Protocol;
    const frameVlan = (pkt.vlan0 << 12) | pkt.vlan1;
    const vlan = this.vlanTracking ? frameVlan : 0;
    const sport = pkt.srcPort;
    const dport = pkt.dstPort;
    const h = flowHash(pkt, proto, vlan);

    let session = NONE;
    let dir = 0;
    const slots = this.slots;
    const addr = this.addr;
    for (let slot = h & this.slotMask; ; slot = (slot + 1) & this.slotMask) {
      const entry = slots[slot]!;
      if (entry === 0) break;
      const s = entry - 1;
      if (this.hash[s] !== h || this.proto[s] !== proto || this.vlan[s] !== vlan) continue;
      const a = s * 8;
      const ports = this.ports[s]!;
      if (
        ports === (((sport << 16) | dport) >>> 0) &&
        addr[a + 3] === pkt.src3 && addr[a + 7] === pkt.dst3 &&
        addr[a] === pkt.src0 && addr[a + 1] === pkt.src1 && addr[a + 2] === pkt.src2 &&
        addr[a + 4] === pkt.dst0 && addr[a + 5] === pkt.dst1 && addr[a + 6] === pkt.dst2
      ) {
        session = s;
        dir = 0;
        break;
      }
      if (
        ports === (((dport << 16) | sport) >>> 0) &&
        addr[a + 3] === pkt.dst3 && addr[a + 7] === pkt.src3 &&
        addr[a] === pkt.dst0 && addr[a + 1] === pkt.dst1 && addr[a + 2] === pkt.dst2 &&
        addr[a + 4] === pkt.src0 && addr[a + 5] === pkt.src1 && addr[a + 6] === pkt.src2
      ) {
        session = s;
        dir = 1;
        break;
      }
    }

    this.lastCreated = false;
    if (session !== NONE && proto === IpProto.TCP && this.isNewConnection(session, dir, pkt)) {
      this.end(session, EndReason.reused);
      this.reused++;
      session = NONE;
    }
    if (session === NONE) {
      // A SYN-ACK seen first means we missed the SYN: its destination started the connection.
      const swap = proto === IpProto.TCP && (pkt.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK);
      session = this.create(pkt, proto, vlan, h, ts, swap);
      dir = swap ? 1 : 0;
      this.lastCreated = true;
    }
    this.lastDirection = dir;

    const d = 2 * session + dir;
    this.packets[d]! += 1;
    this.bytes[d]! += frameBytes;
    this.dirFlags[d]! |= DIR_SEEN;
    this.ttl[d] = pkt.ttl;
    this.dirVlan[d] = frameVlan;
    this.lastTs[session] = ts;
    if (proto === IpProto.TCP) this.trackTcp(d, pkt);
    this.reclassify(session);
    return session;
  }

  /**
   * A SYN (without ACK) whose sequence number differs from the initial one recorded for that direction is a
   * new connection reusing the ports; a retransmitted SYN keeps its number. Wireshark splits tcp.stream the same way.
   */
  private isNewConnection(session: number, dir: number, pkt: DecodedPacket): boolean {
    if ((pkt.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) !== TcpFlag.SYN) return false;
    const d = 2 * session + dir;
    return (this.dirFlags[d]! & DIR_HAS_ISN) !== 0 && this.isn[d] !== pkt.seq;
  }

  private trackTcp(d: number, pkt: DecodedPacket): void {
    const flags = pkt.tcpFlags;
    const seq = pkt.seq;
    let end = (seq + pkt.payloadLength) >>> 0;
    const state = this.tcpState[d]!;
    if (flags & TcpFlag.SYN) {
      end = (end + 1) >>> 0;
      if (!(this.dirFlags[d]! & DIR_HAS_ISN)) {
        this.isn[d] = seq;
        this.dirFlags[d]! |= DIR_HAS_ISN;
        this.windowScale[d] = pkt.windowScale;
      }
      if (state < TcpDirState.established) this.tcpState[d] = flags & TcpFlag.ACK ? TcpDirState.synAck : TcpDirState.syn;
    } else if (flags & TcpFlag.RST) {
      this.tcpState[d] = TcpDirState.rst;
    } else if (state !== TcpDirState.rst) {
      if (flags & TcpFlag.FIN) {
        this.tcpState[d] = TcpDirState.fin;
        end = (end + 1) >>> 0;
      } else if (state < TcpDirState.established && flags & TcpFlag.ACK) {
        this.tcpState[d] = TcpDirState.established;
      }
    }
    if (this.packets[d] === 1 || seqAfter(end, this.nxt[d]!)) this.nxt[d] = end;
    if (flags & TcpFlag.ACK) {
      if (!(this.dirFlags[d]! & DIR_HAS_ACK) || seqAfter(pkt.ack, this.lastAck[d]!)) this.lastAck[d] = pkt.ack;
      this.dirFlags[d]! |= DIR_HAS_ACK;
    }
    if (!(flags & TcpFlag.RST)) this.window[d] = pkt.window;
  }

  /** Moves the session to the list of its current timeout class, at the most-recent end. */
  private reclassify(session: number): void {
    const proto = this.proto[session]!;
    const twoWay = (this.dirFlags[2 * session + 1]! & DIR_SEEN) !== 0 && (this.dirFlags[2 * session]! & DIR_SEEN) !== 0;
    let cls: number;
    if (proto === IpProto.TCP) {
      const state = tcpSessionState(this.tcpState[2 * session]!, this.tcpState[2 * session + 1]!);
      if (state === SessionState.reset || state === SessionState.closed) cls = TimeoutClass.tcpClosed;
      else if (state === SessionState.closing) cls = TimeoutClass.tcpClosing;
      else if (state === SessionState.established || (state === SessionState.midstream && twoWay)) cls = TimeoutClass.tcpEstablished;
      else cls = TimeoutClass.tcpHalfOpen;
    } else if (proto === IpProto.UDP) {
      cls = twoWay ? TimeoutClass.udpTwoWay : TimeoutClass.udpOneWay;
    } else {
      cls = twoWay ? TimeoutClass.otherTwoWay : TimeoutClass.otherOneWay;
    }
    this.unlink(session);
    this.append(cls, session);
  }

  private create(pkt: DecodedPacket, proto: number, vlan: number, h: number, ts: number, swap: boolean): number {
    if (this.freeCount === 0) this.evictOne();
    const s = this.freeList[--this.freeCount]!;
    const a = s * 8;
    if (swap) {
      this.addr[a] = pkt.dst0; this.addr[a + 1] = pkt.dst1; this.addr[a + 2] = pkt.dst2; this.addr[a + 3] = pkt.dst3;
      this.addr[a + 4] = pkt.src0; this.addr[a + 5] = pkt.src1; this.addr[a + 6] = pkt.src2; this.addr[a + 7] = pkt.src3;
      this.ports[s] = ((pkt.dstPort << 16) | pkt.srcPort) >>> 0;
    } else {
      this.addr[a] = pkt.src0; this.addr[a + 1] = pkt.src1; this.addr[a + 2] = pkt.src2; this.addr[a + 3] = pkt.src3;
      this.addr[a + 4] = pkt.dst0; this.addr[a + 5] = pkt.dst1; this.addr[a + 6] = pkt.dst2; this.addr[a + 7] = pkt.dst3;
      this.ports[s] = ((pkt.srcPort << 16) | pkt.dstPort) >>> 0;
    }
    this.proto[s] = proto;
    this.vlan[s] = vlan;
    this.hash[s] = h;
    this.sessionFlags[s] = pkt.ipVersion === 4 ? FLAG_IPV4 : 0;
    this.firstTs[s] = ts;
    this.lastTs[s] = ts;
    for (let d = 2 * s; d < 2 * s + 2; d++) {
      this.tcpState[d] = TcpDirState.none;
      this.dirFlags[d] = 0;
      this.ttl[d] = 0;
      this.windowScale[d] = -1;
      this.dirVlan[d] = 0;
      this.window[d] = 0;
      this.isn[d] = 0;
      this.nxt[d] = 0;
      this.lastAck[d] = 0;
      this.packets[d] = 0;
      this.bytes[d] = 0;
    }
    this.prev[s] = NONE;
    this.next[s] = NONE;
    this.timeoutClass[s] = 255; // not in any list yet
    let slot = h & this.slotMask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & this.slotMask;
    this.slots[slot] = s + 1;
    this.active++;
    if (this.active > this.peakActive) this.peakActive = this.active;
    this.created[proto === IpProto.TCP ? SessionProto.tcp : proto === IpProto.UDP ? SessionProto.udp : SessionProto.other]! += 1;
    return s;
  }

  private evictOne(): void {
    for (const cls of EVICTION_FIRST) {
      const victim = this.listHead[cls]!;
      if (victim !== NONE) {
        this.evicted++;
        this.end(victim, EndReason.evicted);
        return;
      }
    }
    let victim = NONE;
    for (const cls of EVICTION_LAST) {
      const head = this.listHead[cls]!;
      if (head !== NONE && (victim === NONE || this.lastTs[head]! < this.lastTs[victim]!)) victim = head;
    }
    this.evicted++;
    this.end(victim, EndReason.evicted);
  }

  /** Ends every session idle past its class timeout at capture time `now`. */
  expire(now: number): void {
    this.nextExpiryCheck = now + EXPIRY_INTERVAL;
    for (let cls = 0; cls < TIMEOUT_CLASS_COUNT; cls++) {
      const limit = now - this.timeoutByClass[cls]!;
      for (let s = this.listHead[cls]!; s !== NONE && this.lastTs[s]! <= limit; s = this.listHead[cls]!) {
        this.expired++;
        this.end(s, EndReason.timeout);
      }
    }
  }

  /** Ends every session (end of capture or shutdown). */
  flush(): void {
    for (let cls = 0; cls < TIMEOUT_CLASS_COUNT; cls++) {
      for (let s = this.listHead[cls]!; s !== NONE; s = this.listHead[cls]!) this.end(s, EndReason.flushed);
    }
  }

  private end(session: number, reason: number): void {
    if (this.onEnd) this.onEnd(this, session, reason);
    this.unlink(session);
    this.timeoutClass[session] = 255;
    this.removeFromIndex(session);
    this.freeList[this.freeCount++] = session;
    this.active--;
  }

  /** Backward-shift deletion keeps every probe chain unbroken without tombstones. */
  private removeFromIndex(session: number): void {
    const slots = this.slots;
    const mask = this.slotMask;
    let slot = this.hash[session]! & mask;
    while (slots[slot] !== session + 1) slot = (slot + 1) & mask;
    let hole = slot;
    for (let probe = (hole + 1) & mask; slots[probe] !== 0; probe = (probe + 1) & mask) {
      const home = this.hash[slots[probe]! - 1]! & mask;
      // Move the entry back if its home is not within (hole, probe] cyclically.
      if (((probe - home) & mask) >= ((probe - hole) & mask)) {
        slots[hole] = slots[probe]!;
        hole = probe;
      }
    }
    slots[hole] = 0;
  }

  private append(cls: number, s: number): void {
    const tail = this.listTail[cls]!;
    this.prev[s] = tail;
    this.next[s] = NONE;
    if (tail === NONE) this.listHead[cls] = s;
    else this.next[tail] = s;
    this.listTail[cls] = s;
    this.listSize[cls]! += 1;
    this.timeoutClass[s] = cls;
  }

  private unlink(s: number): void {
    const cls = this.timeoutClass[s]!;
    if (cls === 255) return;
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p === NONE) this.listHead[cls] = n;
    else this.next[p] = n;
    if (n === NONE) this.listTail[cls] = p;
    else this.prev[n] = p;
    this.listSize[cls]! -= 1;
    this.timeoutClass[s] = 255;
  }

  // --- Read access (for output, verdicts and tests) ---

  isIpv4(session: number): boolean {
    return (this.sessionFlags[session]! & FLAG_IPV4) !== 0;
  }

  state(session: number): number {
    const proto = this.proto[session]!;
    if (proto === IpProto.TCP) return tcpSessionState(this.tcpState[2 * session]!, this.tcpState[2 * session + 1]!);
    return this.dirFlags[2 * session + 1]! & DIR_SEEN ? SessionState.twoWay : SessionState.oneWay;
  }

  sessionsInClass(cls: number): number {
    return this.listSize[cls]!;
  }
}

/**
 * Direction-independent hash of the flow key: each endpoint is hashed on its own and the two are added,
 * so A→B and B→A land in the same slot without ordering the endpoints first.
 */
function flowHash(pkt: DecodedPacket, proto: number, vlan: number): number {
  const a = endpointHash(pkt.src0, pkt.src1, pkt.src2, pkt.src3, pkt.srcPort);
  const b = endpointHash(pkt.dst0, pkt.dst1, pkt.dst2, pkt.dst3, pkt.dstPort);
  let h = (a + b) | 0;
  h = Math.imul(h ^ proto ^ (vlan << 8), 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function endpointHash(w0: number, w1: number, w2: number, w3: number, port: number): number {
  let h = Math.imul(w3 ^ 0x2545f491, 0xcc9e2d51);
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ w2;
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h = Math.imul(h ^ w1, 0xcc9e2d51) ^ w0;
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ port;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}
