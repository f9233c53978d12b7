import type { PacketSource } from '../capture/packet-source.js';
import { decodePacket } from '../decode/decoder.js';
import { DecodedPacket, DecodeResult, IpProto } from '../decode/decoded-packet.js';
import type { IntelSet } from '../intel/intel-set.js';
import { NativeScreen } from '../match/native-screen.js';
import { SessionMatcher } from '../match/session-matcher.js';
import { PipelineCounters } from '../metrics/pipeline-counters.js';
import { DEFAULT_GUARDS, GuardOptions, GuardPolicy } from '../respond/guards/guard-policy.js';
import { DEFAULT_RESPONDER, FrameSink, MatchRecord, Responder, ResponderOptions } from '../respond/responder.js';
import { SessionTable, SessionTableOptions } from '../session/session-table.js';
import { SessionStateName } from '../session/tcp-state.js';
import { nativeTrackerFor, SessionTrackPath } from './session-track-path.js';

export interface EngineOptions extends Omit<SessionTableOptions, 'nativeTracker'> {
  /** Intel to match sessions against; without it the engine only tracks sessions. */
  intel?: IntelSet;
  guards?: GuardOptions;
  responder?: ResponderOptions;
  /** Where crafted packets go. */
  sink?: FrameSink;
  /** Called when a matched session ends, with what was done about it. */
  onMatchEnd?: (table: SessionTable, session: number, record: MatchRecord) => void;
  /** Which path tracks packets in the session table (default 'auto': the addon's when it loads); see session-track-path.ts. */
  sessionTrack?: SessionTrackPath;
  /** Sessions in the table from which the native path gets look-ahead hints (default LOOKAHEAD_MIN_SESSIONS). */
  lookaheadMinSessions?: number;
  /**
   * Whether the native path screens new sessions against the intel set (default true; see NativeScreen). Off,
   * every session goes to SessionMatcher: for tests and benchmarks that compare the two.
   */
  intelScreen?: boolean;
}

const PROTO_GROUPS = ['tcp', 'udp', 'other'] as const;
/**
 * Sessions in the table from which look-ahead hints pay: below, the rows and index fit in the cache (16,384 sessions
 * are 2.8 MB of rows) and the hint's cost, reading the next record's header here and hashing the frame in the addon,
 * buys nothing (measured on syn-scan.pcap, 101 sessions: 0.245 s with hints, see HISTORY.md, session 17).
 */
export const LOOKAHEAD_MIN_SESSIONS = 16_384;

/**
 * The per-packet pipeline shared by replay and the live sensor: decode → session table → intel match →
 * respond. One instance per capture thread; nothing here allocates per packet on the common path.
 */
export class Engine {
  readonly pkt = new DecodedPacket();
  readonly counters = new PipelineCounters();
  readonly table: SessionTable;
  readonly matcher: SessionMatcher | null;
  /** The native path's intel screen, or null (TypeScript path, no intel, or turned off). */
  readonly screen: NativeScreen | null;
  readonly responder: Responder | null;
  /** Ended sessions by protocol group (tcp, udp, other) and final state. */
  readonly endedStates = new Float64Array(PROTO_GROUPS.length * SessionStateName.length);
  /**
   * Sessions from which the session table's native path takes look-ahead hints from file sources (see
   * SessionTable.lookahead); Infinity on the TypeScript path, which has no use for them.
   */
  private readonly lookaheadFrom: number;

  constructor(options: EngineOptions = {}) {
    const userOnEnd = options.onEnd;
    const onMatchEnd = options.onMatchEnd;
    this.table = new SessionTable({
      ...options,
      nativeTracker: nativeTrackerFor(options.sessionTrack),
      onEnd: (table, s, reason) => {
        const proto = table.proto(s);
        const group = proto === IpProto.TCP ? 0 : proto === IpProto.UDP ? 1 : 2;
        this.endedStates[group * SessionStateName.length + table.state(s)]! += 1;
        const record = this.responder?.release(s);
        if (record && onMatchEnd) onMatchEnd(table, s, record);
        if (userOnEnd) userOnEnd(table, s, reason);
      },
    });
    this.lookaheadFrom = this.table.trackPath === 'native' ? (options.lookaheadMinSessions ?? LOOKAHEAD_MIN_SESSIONS) : Infinity;
    const screenLoader = options.intel && options.intelScreen !== false ? this.table.nativeIntelScreen : null;
    this.screen = screenLoader ? new NativeScreen(options.intel!, screenLoader) : null;
    if (options.intel) {
      this.matcher = new SessionMatcher(options.intel);
      const guards = new GuardPolicy(options.guards ?? DEFAULT_GUARDS);
      this.responder = new Responder(this.table, options.intel, guards, options.sink ?? null, options.responder ?? DEFAULT_RESPONDER);
    } else {
      this.matcher = null;
      this.responder = null;
    }
  }

  /**
   * Processes the current packet of a source. Reading the fields here rather than taking them as arguments
   * keeps the timestamp (a double) from being boxed on the heap at every call.
   */
  handleSource(source: PacketSource): number {
    this.pkt.ts = source.tsSec + source.tsNsec * 1e-9;
    return this.process(source.data, source.offset, source.capturedLength, source.wireLength, source.linkType, source);
  }

  /** Processes one captured frame. Returns the session index, or -1 when the packet has no flow. */
  handle(data: Uint8Array, offset: number, capturedLength: number, wireLength: number, linkType: number, tsSec: number, tsNsec: number): number {
    this.pkt.ts = tsSec + tsNsec * 1e-9;
    return this.process(data, offset, capturedLength, wireLength, linkType, null);
  }

  private process(data: Uint8Array, offset: number, capturedLength: number, wireLength: number, linkType: number, source: PacketSource | null): number {
    const c = this.counters;
    const pkt = this.pkt;
    c.packets++;
    c.bytes += capturedLength;
    c.wireBytes += wireLength;
    const result = decodePacket(pkt, data, offset, capturedLength, wireLength, linkType);
    if (pkt.anomaly !== 0) c.anomalies[pkt.anomaly]! += 1;
    if (pkt.isFragment) c.fragments++;
    if (pkt.tunnelDepth > 0) c.tunnelled++;
    if (result === DecodeResult.flow) {
      if (source !== null && this.table.active >= this.lookaheadFrom) {
        const ahead = source.aheadOffset();
        this.table.lookahead(source.data, ahead, ahead < 0 ? 0 : source.aheadLength);
      }
      const s = this.table.track(pkt, wireLength);
      // Most packets belong to a session already matched at this intel version, with no verdict. On the native path
      // its intel screen says so with the packet (lastSettled), and the stage is not entered at all: the check, kept
      // this small, leaves TurboFan's inlining budget for this function to the decoder (with the check in TypeScript, a
      // CPU profile of a replay with 1 M indicators showed decoder helpers left out of line; HISTORY.md, session 19).
      // A new session may still need the stage for a hold-down.
      if (this.matcher !== null && (!this.table.lastSettled || (this.table.lastCreated && this.responder!.holdDownActive))) {
        this.matchStage(s, source);
      }
      return s;
    }
    if (result === DecodeResult.error) {
      c.decodeErrors[pkt.error]! += 1;
    } else {
      c.noFlow[pkt.noFlowReason]! += 1;
    }
    return -1;
  }

  /** The match stage for a packet the native screen did not vouch for (or with a hold-down active). */
  private matchStage(s: number, source: PacketSource | null): void {
    const intel = this.matcher!.intel;
    // The set changed since the screen's last sync (the native side then vouches for nothing): bring it in step, so
    // that the sessions that follow are screened again.
    const screen = this.screen;
    if (screen !== null && screen.epoch !== intel.lookupEpoch) screen.sync();
    // One check of the row (7 ns of a 105 ns packet, measured) keeps the rest of the stage out of line.
    if (!this.table.settled(s, intel.version) || (this.table.lastCreated && this.responder!.holdDownActive)) {
      this.matchAndRespond(s, source);
    }
  }

  private matchAndRespond(s: number, source: PacketSource | null): void {
    const fresh = this.matcher!.refresh(this.table, s);
    const responder = this.responder!;
    // A session with no verdict costs nothing more, unless a hold-down may apply to a new connection.
    if (this.table.verdict(s) >= 0 || (this.table.lastCreated && responder.holdDownActive) || this.table.isResponding(s)) {
      // Whole seconds and nanoseconds, from the source when there is one (exact), else from pkt.ts.
      const tsSec = source ? source.tsSec : Math.floor(this.pkt.ts);
      const tsNsec = source ? source.tsNsec : Math.round((this.pkt.ts - tsSec) * 1e9);
      responder.onPacket(s, this.pkt, this.table.lastDirection, tsSec, tsNsec, fresh);
    }
  }

  /** Sessions matched against the intel: by SessionMatcher, and settled as clean by the native screen. */
  get sessionsMatched(): number {
    return (this.matcher?.lookups ?? 0) + (this.screen?.screened ?? 0);
  }

  /** Ends all sessions (end of input). */
  finish(): void {
    this.table.flush();
  }

  sessionsCreated(): { tcp: number; udp: number; other: number } {
    const created = this.table.created;
    return { tcp: created[0]!, udp: created[1]!, other: created[2]! };
  }

  /** {tcp: {established: 3, reset: 1}, udp: {...}, other: {...}} for sessions that have ended. */
  sessionStates(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    PROTO_GROUPS.forEach((group, g) => {
      const states: Record<string, number> = {};
      SessionStateName.forEach((name, i) => {
        const n = this.endedStates[g * SessionStateName.length + i]!;
        if (n > 0) states[name] = n;
      });
      out[group] = states;
    });
    return out;
  }
}
