import { DecodedPacket, IpProto, TcpFlag } from '../decode/decoded-packet.js';
import { sessionAddress } from '../events/session-record.js';
import { ACTION_ALLOW, ACTION_BLOCK, ACTION_MONITOR, actionCode } from '../intel/action.js';
import type { IntelSet } from '../intel/intel-set.js';
import { SessionTable } from '../session/session-table.js';
import { vlanCountOf } from './frame-header.js';
import { GuardName, GuardPolicy } from './guards/guard-policy.js';
import { writeProhibitedFrame } from './icmp-prohibited.js';
import { planResets, ResetPlan } from './reset-plan.js';
import { MAX_CRAFTED_FRAME, newCraftedSegment, writeSegmentFrame } from './tcp-segment.js';

/** Where crafted frames go: a pcap file in replay, an injection interface in the sensor. */
export interface FrameSink {
  /** `toSide`: the endpoint the frame is for, 0 = the session's initiator (client), 1 = the responder (server). */
  send(frame: Uint8Array, length: number, tsSec: number, tsNsec: number, toSide: number): void;
}

/**
 * Told what the responder does to each blocked session, so that a live sensor can verify kills (kill-verifier.ts).
 * Times are those of the trigger packet (capture clock), whole seconds and nanoseconds.
 */
export interface ResponseObserver {
  /** A round of resets (and probes) was handed to the sink; `round` counts from 1. */
  injected(s: number, record: MatchRecord, round: number, tsSec: number, tsNsec: number): void;
  /** A later packet of a session we injected into, with its TCP flags (RST: an endpoint reset it; FIN: closing on its own). */
  laterPacket(s: number, record: MatchRecord, tcpFlags: number, tsSec: number, tsNsec: number): void;
  /** The session ended (idle timeout, eviction, shutdown). */
  ended(s: number, record: MatchRecord): void;
  /** A verdict was reached for a session (block, monitor, allow over a block, hold-down), guard included. */
  decided?(s: number, record: MatchRecord): void;
}

export interface ResponderOptions {
  /** Rounds of resets per session: the first, plus re-injections while the session still shows life. */
  maxRounds: number;
  /** After a block, new TCP connections from the same client to the same service are killed on their SYN for this long. */
  holdDownSeconds: number;
  /** Answer blocked UDP with ICMP administratively-prohibited (spoofable, so rate-capped and off by default). */
  udpIcmp: boolean;
  udpIcmpPerSecond: number;
}

/** Most client → service pairs held down at once. */
export const MAX_HOLD_DOWNS = 65536;

export const DEFAULT_RESPONDER: ResponderOptions = { maxRounds: 6, holdDownSeconds: 60, udpIcmp: false, udpIcmpPerSecond: 100 };

/** What happened to one matched session; written to the verdict log when the session ends. */
export interface MatchRecord {
  ts: number;
  /** Intel entry text that decided, or "hold-down" when a recent block between the same addresses did. */
  indicator: string;
  entryId: string;
  source: string;
  reason: string;
  /** "src" when the initiator's side matched, "dst" for the responder's. */
  matchedSide: 'src' | 'dst';
  action: 'block' | 'monitor' | 'allow';
  guard: GuardName | null;
  rounds: number;
  resets: number;
  icmp: number;
  /** The peer answered with its own RST after ours, or a reset was seen after ours: the kill took. */
  peerReset: boolean;
  /** The intel that decided was removed or expired while the session lived: nothing more is sent. */
  withdrawn: boolean;
}

/**
 * The respond stage: given a session's verdict, carries it out (or records why not). Blocked TCP sessions
 * get resets planned for their state; later packets of a session that still shows life trigger bounded
 * re-injection (a challenge ACK's ack field is the exact number to use, and planResets uses the trigger's
 * ack first). Policy stays in GuardPolicy; how resets are numbered stays in reset-plan.ts.
 */
export class Responder {
  readonly records = new Map<number, MatchRecord>();
  private readonly holdDown = new Map<string, number>();
  private readonly plan = new ResetPlan();
  private readonly segment = newCraftedSegment();
  private readonly frame = new Uint8Array(Math.max(MAX_CRAFTED_FRAME, 1600));
  private readonly zeroMac = new Uint8Array(6);
  /** Set by a live sensor to verify kills; replay leaves it null. */
  observer: ResponseObserver | null = null;
  probePackets = 0;
  private icmpTokens = 0;
  private icmpLast = -Infinity;
  resetPackets = 0;
  icmpPackets = 0;
  readonly matches = { block: 0, monitor: 0, allow: 0 };

  constructor(
    private readonly table: SessionTable,
    private readonly intel: IntelSet,
    readonly guards: GuardPolicy,
    private readonly sink: FrameSink | null,
    readonly options: ResponderOptions = DEFAULT_RESPONDER,
  ) {}

  /**
   * Called for every packet of a session with a verdict (handle >= 0), and for new sessions while a
   * hold-down is active. `fresh` says the verdict was just (re)computed.
   */
  onPacket(s: number, pkt: DecodedPacket, side: number, tsSec: number, tsNsec: number, fresh: boolean): void {
    const now = tsSec + tsNsec * 1e-9;
    const record = this.decide(s, pkt, now, fresh);
    if (record !== null) {
      if (this.table.proto(s) === IpProto.TCP) this.resetTcp(s, pkt, side, tsSec, tsNsec, now, record);
      else if (this.table.proto(s) === IpProto.UDP && this.options.udpIcmp && side === 0) this.answerUdp(s, pkt, tsSec, tsNsec, now, record);
    }
    this.reportDecision();
  }

  /** Session decided during this packet, told to the observer only once the resets are out (-1: none). */
  private decidedNow = -1;

  private reportDecision(): void {
    const s = this.decidedNow;
    if (s < 0) return;
    this.decidedNow = -1;
    const record = this.records.get(s);
    if (record) this.observer?.decided?.(s, record);
  }

  /**
   * Acts on a session without a packet to react to, after an intel change (the sensor's sweep calls it for
   * sessions that have been quiet): a blocked TCP session gets resets at the numbers tracked, and each end gets a
   * probe — an ACK one byte to the left of its window, which its stack answers with an ACK carrying the exact
   * numbers (or, if our reset already killed it, with a reset of its own). Either answer is a packet on the mirror,
   * and onPacket finishes or confirms the kill from there.
   */
  onQuietSession(s: number, tsSec: number, tsNsec: number, fresh: boolean): void {
    this.resetQuietSession(s, tsSec, tsNsec, fresh);
    this.reportDecision();
  }

  private resetQuietSession(s: number, tsSec: number, tsNsec: number, fresh: boolean): void {
    const now = tsSec + tsNsec * 1e-9;
    const record = this.decide(s, null, now, fresh);
    if (record === null || this.table.proto(s) !== IpProto.TCP || record.rounds > 0) return;
    const t = this.table;
    if (!t.hasIsn(s, 0) || !t.hasIsn(s, 1)) return; // no handshake seen: numbers unknown, wait for a packet
    planResets(t, s, null, 0, this.plan);
    const resets = this.plan.count;
    for (let to = 0; to < 2; to++) this.plan.add(to, (t.nxt(s, 1 - to) - 1) >>> 0, t.nxt(s, to), TcpFlag.ACK);
    if (!this.admitRound(s, now, record, this.plan.count)) return;
    this.sendPlan(s, null, 0, tsSec, tsNsec);
    record.resets += resets;
    this.resetPackets += resets;
    this.probePackets += this.plan.count - resets;
    this.observer?.injected(s, record, record.rounds, tsSec, tsNsec);
  }

  /**
   * The verdict's record for this session, (re)started when the verdict was just computed; null when nothing is
   * to be sent (no verdict, not a block, withdrawn, or a standing guard).
   */
  private decide(s: number, pkt: DecodedPacket | null, now: number, fresh: boolean): MatchRecord | null {
    let record = this.records.get(s);
    const handle = this.table.verdict(s);
    if (fresh || !record) {
      const action = handle >= 0 ? this.intel.actionCodeOf(handle) : 0;
      if (record && handle >= 0 && action === actionCode(record.action) && record.entryId === this.intel.idOf(handle) && record.source === this.intel.sourceOf(handle)) {
        // The intel changed elsewhere; this session's decision did not: no new admission through the guards
        // (the circuit breaker must count a session once, however often the set changes).
      } else if (action === ACTION_BLOCK) record = this.startRecord(s, handle, 'block', record, now);
      else if (action === ACTION_MONITOR) record = this.startRecord(s, handle, 'monitor', record, now);
      else if (action === ACTION_ALLOW) {
        if (!this.blockOverridden(s)) return null;
        record = this.startRecord(s, handle, 'allow', record, now);
        record.guard = 'allowlist';
        this.guards.stop('allowlist');
      } else if (pkt !== null && isNewSyn(this.table, s, pkt) && this.inHoldDown(s, now)) {
        record = this.startHoldDown(s, now);
      } else {
        // No verdict any more: a block whose indicator was removed or expired stops here.
        if (record && record.indicator !== 'hold-down') record.withdrawn = true;
        return null;
      }
    }
    if (record.action !== 'block' || record.withdrawn || isStanding(record.guard)) return null;
    return record;
  }

  /** True when a hold-down is active at all (so the engine can skip the check otherwise). */
  get holdDownActive(): boolean {
    return this.holdDown.size > 0;
  }

  /** Forgets a session that ended; returns its record, if it had one, for the verdict log. */
  release(s: number): MatchRecord | undefined {
    if (!this.table.isResponding(s)) return undefined;
    const record = this.records.get(s);
    if (record) {
      this.records.delete(s);
      if (record.rounds > 0) this.observer?.ended(s, record);
    }
    return record;
  }

  private startRecord(s: number, handle: number, action: MatchRecord['action'], previous: MatchRecord | undefined, now: number): MatchRecord {
    const intel = this.intel;
    const record: MatchRecord = {
      ts: previous?.ts ?? now,
      indicator: intel.indicatorOf(handle),
      entryId: intel.idOf(handle),
      source: intel.sourceOf(handle),
      reason: intel.reasonOf(handle),
      matchedSide: this.table.verdictSide(s) === 0 ? 'src' : 'dst',
      action,
      guard: null,
      rounds: previous?.rounds ?? 0,
      resets: previous?.resets ?? 0,
      icmp: previous?.icmp ?? 0,
      peerReset: previous?.peerReset ?? false,
      withdrawn: false,
    };
    if (!previous || previous.action !== action) this.matches[action]++;
    if (action === 'block') record.guard = this.guards.admitBlock(now, record.source, this.onNeverBlockList(s));
    this.records.set(s, record);
    this.table.setResponding(s);
    if (this.observer?.decided) this.decidedNow = s;
    return record;
  }

  private startHoldDown(s: number, now: number): MatchRecord {
    const record: MatchRecord = {
      ts: now, indicator: 'hold-down', entryId: '', source: 'offpath', reason: 'recent block of the same client and service',
      matchedSide: 'dst', action: 'block', guard: null, rounds: 0, resets: 0, icmp: 0, peerReset: false, withdrawn: false,
    };
    this.matches.block++;
    record.guard = this.guards.admitBlock(now, record.source, this.onNeverBlockList(s));
    this.records.set(s, record);
    this.table.setResponding(s);
    if (this.observer?.decided) this.decidedNow = s;
    return record;
  }

  private resetTcp(s: number, pkt: DecodedPacket, side: number, tsSec: number, tsNsec: number, now: number, record: MatchRecord): void {
    if (pkt.tcpFlags & TcpFlag.RST) {
      // An endpoint reset the session itself: after ours, that is the kill taking effect; nothing to add.
      if (record.rounds > 0) {
        record.peerReset = true;
        this.observer?.laterPacket(s, record, pkt.tcpFlags, tsSec, tsNsec);
      }
      return;
    }
    if (record.rounds > 0) this.observer?.laterPacket(s, record, pkt.tcpFlags, tsSec, tsNsec);
    if (record.rounds >= this.options.maxRounds) return;
    if (pkt.tunnelDepth > 0) {
      // A reset would have to be sent inside the tunnel, which off-path injection cannot do.
      if (record.guard !== 'not_injectable') record.guard = this.guards.stop('not_injectable');
      return;
    }
    planResets(this.table, s, pkt, side, this.plan);
    if (this.plan.count === 0) return;
    if (!this.admitRound(s, now, record, this.plan.count)) return;
    this.sendPlan(s, pkt, side, tsSec, tsNsec);
    record.resets += this.plan.count;
    this.resetPackets += this.plan.count;
    this.observer?.injected(s, record, record.rounds, tsSec, tsNsec);
  }

  /** Passes a round of `packets` through the rate guards; counts the round when admitted. */
  private admitRound(s: number, now: number, record: MatchRecord, packets: number): boolean {
    const guard = this.guards.admitPackets(now, this.targetKey(s), packets);
    if (guard) {
      record.guard = guard;
      return false;
    }
    record.guard = null;
    record.rounds++;
    if (record.rounds === 1) this.startHoldDownFor(s, now);
    return true;
  }

  /**
   * Writes and sends every segment of the plan. With a trigger frame, MACs come from it; without one (a quiet
   * session) they are left zero for the sink to fill in (a live sensor's injection path knows the neighbours).
   */
  private sendPlan(s: number, pkt: DecodedPacket | null, side: number, tsSec: number, tsNsec: number): void {
    const table = this.table;
    const seg = this.segment;
    seg.ipVersion = table.isIpv4(s) ? 4 : 6;
    const ethernet = pkt !== null && pkt.l2Offset >= 0 && pkt.tunnelDepth === 0;
    for (let i = 0; i < this.plan.count; i++) {
      const to = this.plan.toSide[i]!;
      const from = 1 - to;
      seg.src0 = table.addressWord(s, from, 0);
      seg.src1 = table.addressWord(s, from, 1);
      seg.src2 = table.addressWord(s, from, 2);
      seg.src3 = table.addressWord(s, from, 3);
      seg.dst0 = table.addressWord(s, to, 0);
      seg.dst1 = table.addressWord(s, to, 1);
      seg.dst2 = table.addressWord(s, to, 2);
      seg.dst3 = table.addressWord(s, to, 3);
      seg.srcPort = table.port(s, from);
      seg.dstPort = table.port(s, to);
      seg.seq = this.plan.seq[i]!;
      seg.ack = this.plan.ack[i]!;
      seg.flags = this.plan.flags[i]!;
      seg.ttl = table.ttl(s, from) || 64;
      // Frames reaching `to` travel the way `from`'s frames do: copy the tags seen on that direction.
      seg.vlan = table.dirVlan(s, from);
      seg.vlanCount = vlanCountOf(seg.vlan);
      let length: number;
      if (ethernet) {
        // The trigger frame went from `side` to the other: its source MAC is `side`'s, its destination the other's.
        const l2 = pkt.l2Offset;
        const toMac = to === side ? l2 + 6 : l2;
        const fromMac = to === side ? l2 : l2 + 6;
        length = writeSegmentFrame(this.frame, seg, pkt.data, toMac, pkt.data, fromMac);
      } else {
        length = writeSegmentFrame(this.frame, seg, this.zeroMac, 0, this.zeroMac, 0);
      }
      // Stamped just after the trigger, a microsecond apart, in send order.
      const ns = tsNsec + (i + 1) * 1000;
      this.sink?.send(this.frame, length, tsSec + Math.floor(ns / 1e9), ns % 1e9, to);
    }
  }

  private answerUdp(s: number, pkt: DecodedPacket, tsSec: number, tsNsec: number, now: number, record: MatchRecord): void {
    if (record.icmp >= this.options.maxRounds) return;
    const rate = this.options.udpIcmpPerSecond;
    this.icmpTokens = Math.min(rate, this.icmpTokens + (now > this.icmpLast ? (this.icmpLast === -Infinity ? rate : (now - this.icmpLast) * rate) : 0));
    this.icmpLast = Math.max(this.icmpLast, now);
    if (this.icmpTokens < 1) {
      record.guard = this.guards.stop('rate_global');
      return;
    }
    this.icmpTokens -= 1;
    const vlan = this.table.dirVlan(s, 1);
    const ethernet = pkt.l2Offset >= 0 && pkt.tunnelDepth === 0;
    const data = ethernet ? pkt.data : this.zeroMac;
    const l2 = ethernet ? pkt.l2Offset : 0;
    const length = writeProhibitedFrame(this.frame, pkt, vlan, vlanCountOf(vlan), data, ethernet ? l2 : 0, data, ethernet ? l2 + 6 : 0);
    const ns = tsNsec + 1000;
    this.sink?.send(this.frame, length, tsSec + Math.floor(ns / 1e9), ns % 1e9, 0);
    record.icmp++;
    this.icmpPackets++;
  }

  /**
   * Remembers a blocked client → service pair. Bounded: expired pairs at the old end are swept as new ones
   * come in, and past MAX_HOLD_DOWNS the oldest go first (Map order is insertion order).
   */
  private startHoldDownFor(s: number, now: number): void {
    const key = this.pairKey(s);
    this.holdDown.delete(key);
    this.holdDown.set(key, now + this.options.holdDownSeconds);
    for (const [oldest, until] of this.holdDown) {
      if (until > now && this.holdDown.size <= MAX_HOLD_DOWNS) break;
      this.holdDown.delete(oldest);
    }
  }

  /** Pairs held down now (for tests and metrics). */
  get holdDownCount(): number {
    return this.holdDown.size;
  }

  private inHoldDown(s: number, now: number): boolean {
    if (this.holdDown.size === 0) return false;
    const key = this.pairKey(s);
    const until = this.holdDown.get(key);
    if (until === undefined) return false;
    if (until <= now) {
      this.holdDown.delete(key);
      return false;
    }
    return true;
  }

  /** Whether a block entry matches either endpoint, though allow decided the session (same endpoint included). */
  private blockOverridden(s: number): boolean {
    const t = this.table;
    const proto = t.proto(s);
    for (let side = 0; side < 2; side++) {
      const h = t.isIpv4(s)
        ? this.intel.overriddenV4(t.addressWord(s, side, 3), t.port(s, side), proto)
        : this.intel.overriddenV6(t.addressWord(s, side, 0), t.addressWord(s, side, 1), t.addressWord(s, side, 2), t.addressWord(s, side, 3), t.port(s, side), proto);
      if (h >= 0 && this.intel.actionCodeOf(h) === ACTION_BLOCK) return true;
    }
    return false;
  }

  private onNeverBlockList(s: number): boolean {
    const list = this.guards.options.neverBlock;
    if (!list) return false;
    const t = this.table;
    for (let side = 0; side < 2; side++) {
      const h = t.isIpv4(s)
        ? list.matchV4(t.addressWord(s, side, 3))
        : list.matchV6(t.addressWord(s, side, 0), t.addressWord(s, side, 1), t.addressWord(s, side, 2), t.addressWord(s, side, 3));
      if (h >= 0) return true;
    }
    return false;
  }

  /** The address the verdict matched: the one whose per-target cap applies. */
  private targetKey(s: number): string {
    return sessionAddress(this.table, s, this.table.verdictSide(s));
  }

  /**
   * Hold-down scope: the client address and the server's address, port and protocol. A new connection from
   * the same client to the same service is the reconnect we want to kill on its SYN; another service on the
   * same host is not (the block may have been for one port only).
   */
  private pairKey(s: number): string {
    const t = this.table;
    return `${sessionAddress(t, s, 0)} ${sessionAddress(t, s, 1)} ${t.port(s, 1)} ${t.proto(s)}`;
  }
}

/** Guards that stand for the whole session; rate caps and the breaker are re-checked on later packets. */
function isStanding(guard: GuardName | null): boolean {
  return guard === 'never_block' || guard === 'monitor_mode' || guard === 'monitor_source' || guard === 'allowlist';
}

function isNewSyn(table: SessionTable, s: number, pkt: DecodedPacket): boolean {
  return table.proto(s) === IpProto.TCP && table.packets(s, 0) + table.packets(s, 1) === 1 && (pkt.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
}
