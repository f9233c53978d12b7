import type { SessionTrackPath } from './session-track-path.js';
import type { Logger } from 'pino';
import { openFrameInjector, openIpInjector, openLiveCapture, type CaptureBackend, type NativeTuning } from '../capture/live/open-live.js';
import { readInterfaceMac } from '../capture/live/interface-counters.js';
import type { FrameInjector, IpPacketInjector, LiveCapture, LiveCaptureOptions, LiveCaptureStats } from '../capture/live/live-capture.js';
import { LiveCaptureError } from '../capture/live/capture-errors.js';
import { sessionIdentity } from '../events/session-record.js';
import type { IntelSet } from '../intel/intel-set.js';
import { SensorMetrics } from '../metrics/sensor-metrics.js';
import { Canary, type CanaryResult } from '../respond/injection/canary.js';
import { InjectionPath, type SideAddressing } from '../respond/injection/injection-path.js';
import { DEFAULT_KILL_VERIFIER, KillVerifier, type KillOutcome, type KillVerifierOptions } from '../respond/kill-verifier.js';
import type { GuardOptions } from '../respond/guards/guard-policy.js';
import type { MatchRecord, ResponderOptions } from '../respond/responder.js';
import type { SessionTable, SessionTableOptions } from '../session/session-table.js';
import { Engine } from './engine.js';
import { QuietSessionSweep } from './quiet-session-sweep.js';
import { warmUpSensor } from './warm-up.js';
import { useRealtimePriority } from './realtime-priority.js';

export interface SensorOptions {
  capture: LiveCaptureOptions;
  backend: CaptureBackend;
  /** Native backend tuning (ring layout, fanout group). */
  native?: NativeTuning;
  /** Injection interface; null = inject on the capture interface. */
  injectInterface: string | null;
  toClient: SideAddressing;
  toServer: SideAddressing;
  intel: IntelSet;
  guards: GuardOptions;
  responder: ResponderOptions;
  table: SessionTableOptions & { sessionTrack?: SessionTrackPath };
  kills?: KillVerifierOptions;
  /** Milliseconds between housekeeping ticks (expiry, kill verification, quiet-session sweep). */
  tickMs?: number;
  /**
   * Never let the event loop sleep: it polls the capture socket without blocking, over and over. Costs one core at
   * 100 %, and removes the wake-up latency of an idle CPU (hundreds of microseconds on virtual machines, whose idle
   * vCPUs are descheduled by the host): the difference between winning and losing the race against a first byte.
   */
  busyPoll?: boolean;
  /** SCHED_FIFO priority for the thread that starts the sensor (the packet thread); undefined = unchanged. */
  realtimePriority?: number;
  /** Already-open devices (the warm-up's made-up capture and discarding injector); absent = open them from the options. */
  devices?: { capture: LiveCapture; l2: FrameInjector | null; l3: IpPacketInjector | null; ownMac: Uint8Array | null };
  log: Logger;
  metrics?: SensorMetrics;
}

/** Final statistics, printed on shutdown. */
export interface SensorStats {
  backend: string;
  seconds: number;
  capture: LiveCaptureStats;
  packets: number;
  bytes: number;
  decodeErrors: Record<string, number>;
  /** `track`: which per-packet path the session table runs ('native' or 'js'). */
  sessions: { tcp: number; udp: number; other: number; active: number; evicted: number; track: 'native' | 'js' };
  matches: { block: number; monitor: number; allow: number };
  rstPackets: number;
  probePackets: number;
  injected: { sent: number; failed: number; noNeighbor: number };
  kills: { attempted: number; confirmed: number; confirmedByReset: number; confirmedBySilence: number; failed: number; pending: number };
  guards: Record<string, number>;
  selfFrames: number;
  intel: { entries: number; version: number; digest: string };
}

/** One decision, as logged and as reported to the fleet. */
export interface DecisionEvent {
  ts: string;
  proto: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  vlan: number | null;
  innerVlan: number | null;
  action: MatchRecord['action'];
  indicator: string;
  entryId: string;
  source: string;
  reason: string;
  matchedSide: 'src' | 'dst';
  guard: string | null;
  enforcing: boolean;
}

const wallSeconds = (): number => (performance.timeOrigin + performance.now()) / 1000;

/**
 * The live sensor: capture → engine (decode, sessions, match, respond) → injection path, plus the housekeeping the
 * replay does not need: kill verification, the sweep of quiet sessions after intel changes, idle expiry on the
 * wall clock, and the metrics. Everything runs on one thread; nothing else touches the engine.
 */
export class Sensor {
  readonly engine: Engine;
  readonly metrics: SensorMetrics;
  readonly kills: KillVerifier;
  readonly sweep: QuietSessionSweep;
  private capture: LiveCapture | null = null;
  private injection: InjectionPath | null = null;
  private l2: FrameInjector | null = null;
  private l3: IpPacketInjector | null = null;
  private ownMac: Uint8Array | null = null;
  private canary: Canary | null = null;
  private timer: NodeJS.Timeout | null = null;
  private spinner: NodeJS.Immediate | null = null;
  private startedAt = 0;
  private lastPacketWall = 0;
  selfFrames = 0;
  private readonly log: Logger;

  constructor(private readonly options: SensorOptions) {
    this.log = options.log;
    this.metrics = options.metrics ?? new SensorMetrics();
    const sink = { send: (f: Uint8Array, l: number, s: number, n: number, to: number) => this.injection?.send(f, l, s, n, to) };
    this.engine = new Engine({
      ...options.table,
      intel: options.intel,
      guards: options.guards,
      responder: options.responder,
      sink,
      onMatchEnd: (table, s, record) => this.logMatchEnd(table, s, record),
    });
    const killOptions = { ...DEFAULT_KILL_VERIFIER, maxRounds: options.responder.maxRounds, ...options.kills };
    this.kills = new KillVerifier(killOptions, wallSeconds, {
      triggerToInjection: (s) => this.metrics.triggerToInjection(s),
      injectionToKill: (s) => this.metrics.injectionToKill(s),
      outcome: (s, record, outcome, seconds) => this.logKill(s, record, outcome, seconds),
    }, () => this.injection?.flush());
    const kills = this.kills;
    this.engine.responder!.observer = {
      injected: (s, record, round, tsSec, tsNsec) => kills.injected(s, record, round, tsSec, tsNsec),
      laterPacket: (s, record, flags, tsSec, tsNsec) => kills.laterPacket(s, record, flags, tsSec, tsNsec),
      ended: (s, record) => kills.ended(s, record),
      decided: (s, record) => this.onDecision(s, record),
    };
    this.sweep = new QuietSessionSweep(this.engine);
  }

  /**
   * Warms the blocking path up (warm-up.ts), then builds the sensor. The order matters: V8 settles the shapes of
   * objects (a field that turns out to hold large numbers, for example) during the warm-up, and an object made
   * before that keeps the outdated shape, which throws the compiled code away on its first real packet.
   */
  static async create(options: SensorOptions): Promise<Sensor> {
    const warm = await warmUpSensor((o) => new Sensor(o), options);
    const sensor = new Sensor(options);
    sensor.log.debug({ event: 'warm_up', ...warm }, 'blocking path compiled before the first packet');
    return sensor;
  }

  get intel(): IntelSet {
    return this.options.intel;
  }

  /** Enforce (send resets) or only monitor; switchable at run time (dry-run flag, the fleet's switch). */
  get enforcing(): boolean {
    return !this.options.guards.monitor;
  }

  setEnforcing(enforce: boolean, why: string): void {
    if (enforce === this.enforcing) return;
    this.options.guards.monitor = !enforce;
    this.log.warn({ event: 'enforcement', mode: enforce ? 'enforce' : 'monitor', why }, `enforcement switched to ${enforce ? 'enforce' : 'monitor'}`);
  }

  /** Opens capture and injection, runs the self-test, starts processing. */
  async start(): Promise<{ canary: CanaryResult | null }> {
    const o = this.options;
    if (o.devices) {
      this.capture = o.devices.capture;
      this.l2 = o.devices.l2;
      this.l3 = o.devices.l3;
      this.ownMac = o.devices.ownMac;
    } else {
      await this.openDevices();
    }
    this.injection = new InjectionPath({ toClient: o.toClient, toServer: o.toServer, ownMac: this.ownMac }, this.l2, this.l3);
    this.metrics.attach({
      engine: this.engine,
      intel: o.intel,
      capture: () => this.captureStats(),
      injection: this.injection,
      kills: this.kills,
      enforcing: () => this.enforcing,
    });
    if (o.realtimePriority !== undefined) useRealtimePriority(o.realtimePriority);
    this.startedAt = wallSeconds();
    this.capture!.start(this.packetHandler());
    let canary: CanaryResult | null = null;
    if (this.l2 && this.ownMac && !o.devices) {
      this.canary = new Canary(this.ownMac);
      canary = this.canary.send(this.l2);
    }
    this.timer = setInterval(() => this.tick(), o.tickMs ?? 50);
    if (o.busyPoll) {
      // A pending immediate makes libuv poll for I/O with a zero timeout, so the loop spins instead of sleeping.
      const spin = (): void => {
        if (this.timer !== null) this.spinner = setImmediate(spin);
      };
      this.spinner = setImmediate(spin);
    }
    return { canary };
  }

  private async openDevices(): Promise<void> {
    const o = this.options;
    const injIface = o.injectInterface ?? o.capture.iface;
    this.capture = await openLiveCapture(o.backend, o.capture, o.native);
    try {
      if (o.toClient.mode !== 'l3' || o.toServer.mode !== 'l3') {
        this.ownMac = readInterfaceMac(injIface);
        if (!this.ownMac && (o.toClient.mode === 'own' || o.toServer.mode === 'own')) {
          throw new LiveCaptureError('failed', injIface, 'has no MAC address, so own-MAC injection cannot work');
        }
        this.l2 = await openFrameInjector(o.backend, injIface);
      }
      if (o.toClient.mode === 'l3' || o.toServer.mode === 'l3') this.l3 = await openIpInjector();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Whether the canary came back on the mirror (read a little after start). */
  canarySeen(): boolean {
    return this.canary?.seen ?? false;
  }

  private packetHandler() {
    const engine = this.engine;
    const pkt = engine.pkt;
    const linkType = this.capture!.linkType;
    const ownMac = this.ownMac;
    const neighbors = this.injection!.neighbors;
    return (data: Uint8Array, offset: number, caplen: number, wirelen: number, tsSec: number, tsNsec: number): void => {
      if (ownMac !== null && linkType === 1 && caplen >= 14 && data[offset + 6] === ownMac[0] && data[offset + 7] === ownMac[1] &&
        data[offset + 8] === ownMac[2] && data[offset + 9] === ownMac[3] && data[offset + 10] === ownMac[4] && data[offset + 11] === ownMac[5]) {
        // Our own frames, where the injection port is mirrored too: never a trigger (and never our own confirmation).
        this.selfFrames++;
        if (this.canary && !this.canary.seen) this.canary.matches(data, offset, caplen);
        return;
      }
      const s = engine.handle(data, offset, caplen, wirelen, linkType, tsSec, tsNsec);
      if (s >= 0 && engine.table.lastCreated && pkt.l2Offset >= 0 && pkt.tunnelDepth === 0) {
        // Remember which MACs lead to both endpoints, to reach them later without a frame to copy from.
        const l2 = pkt.l2Offset;
        neighbors.learn(pkt.src0, pkt.src1, pkt.src2, pkt.src3, data, l2 + 6);
        neighbors.learn(pkt.dst0, pkt.dst1, pkt.dst2, pkt.dst3, data, l2);
      }
      this.injection!.flush();
    };
  }

  private tick(): void {
    const now = wallSeconds();
    const sec = Math.floor(now);
    const nsec = Math.round((now - sec) * 1e9);
    const intel = this.options.intel;
    const next = intel.nextExpiry();
    if (next !== 0 && next <= now) intel.expire(Math.floor(now));
    intel.maintain();
    this.engine.table.expire(now);
    this.sweep.tick(sec, nsec);
    this.injection?.flush();
    this.kills.sweep(this.engine.responder!.records);
    if (this.engine.counters.packets > 0) this.lastPacketWall = now;
  }

  captureStats(): LiveCaptureStats {
    return this.capture ? this.capture.stats() : { received: 0, kernelDropped: 0, interfaceDropped: 0 };
  }

  /** Seconds since a packet was last processed (for /healthz); -1 before the first. */
  get secondsSinceTraffic(): number {
    return this.lastPacketWall === 0 ? -1 : wallSeconds() - this.lastPacketWall;
  }

  stats(): SensorStats {
    const e = this.engine;
    const r = e.responder!;
    const created = e.sessionsCreated();
    return {
      backend: this.capture?.backend ?? this.options.backend,
      seconds: this.startedAt ? wallSeconds() - this.startedAt : 0,
      capture: this.captureStats(),
      packets: e.counters.packets,
      bytes: e.counters.wireBytes,
      decodeErrors: e.counters.decodeErrorsObject(),
      sessions: { ...created, active: e.table.active, evicted: e.table.evicted, track: e.table.trackPath },
      matches: { ...r.matches },
      rstPackets: r.resetPackets,
      probePackets: r.probePackets,
      injected: { sent: this.injection?.sent ?? 0, failed: this.injection?.failed ?? 0, noNeighbor: this.injection?.noNeighbor ?? 0 },
      kills: {
        attempted: this.kills.attempted, confirmed: this.kills.confirmed, confirmedByReset: this.kills.confirmedByReset,
        confirmedBySilence: this.kills.confirmedBySilence, failed: this.kills.failed, pending: this.kills.pendingCount,
      },
      guards: Object.fromEntries(r.guards.stopped),
      selfFrames: this.selfFrames,
      intel: { entries: this.options.intel.size, version: this.options.intel.version, digest: this.options.intel.digest() },
    };
  }

  /**
   * Stops capturing, resolves what is pending and ends every session (their verdicts are logged), closes the
   * interfaces. Idempotent.
   */
  stop(): SensorStats {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.spinner) clearImmediate(this.spinner);
    this.spinner = null;
    this.capture?.close();
    this.injection?.flush();
    const stats = this.stats();
    this.engine.finish();
    this.close();
    return stats;
  }

  private close(): void {
    this.capture?.close();
    this.l2?.close();
    this.l3?.close();
    this.l2 = null;
    this.l3 = null;
  }

  /** Listeners for every decision (the fleet's event stream, the API's live events). */
  readonly decisionListeners: ((event: DecisionEvent) => void)[] = [];

  private onDecision(s: number, record: MatchRecord): void {
    const event: DecisionEvent = {
      ts: new Date(record.ts * 1000).toISOString(),
      ...sessionIdentity(this.engine.table, s),
      action: record.action,
      indicator: record.indicator,
      entryId: record.entryId,
      source: record.source,
      reason: record.reason,
      matchedSide: record.matchedSide,
      guard: record.guard,
      enforcing: this.enforcing,
    };
    // Logged after the resets are out: formatting a log line must not delay the race against the first byte.
    if (this.pendingDecisions.push(event) === 1) setImmediate(this.flushDecisions);
  }

  private readonly pendingDecisions: DecisionEvent[] = [];
  private readonly flushDecisions = (): void => {
    for (const event of this.pendingDecisions.splice(0)) {
      const level = event.action === 'block' && event.guard === null ? 'warn' : 'info';
      this.log[level]({ event: 'decision', ...event }, `${event.action}${event.guard ? ` (stopped by ${event.guard})` : ''}: ${event.src}:${event.sport} -> ${event.dst}:${event.dport} matched ${event.indicator}`);
      for (const listener of this.decisionListeners) listener(event);
    }
  };

  private logMatchEnd(table: SessionTable, s: number, record: MatchRecord): void {
    this.log.info({ event: 'session_end', ...sessionIdentity(table, s), ...record }, `${record.action} session ended`);
  }

  private logKill(s: number, record: MatchRecord, outcome: KillOutcome, seconds: number): void {
    const table = this.engine.table;
    const fields = { event: 'kill', outcome, seconds, ...sessionIdentity(table, s), indicator: record.indicator, source: record.source, rounds: record.rounds, resets: record.resets };
    if (outcome === 'failed') this.log.warn(fields, 'kill failed: the session still shows life after every round');
    else this.log.info(fields, `kill confirmed (${outcome === 'confirmed_reset' ? 'endpoint reset' : 'silence'})`);
  }
}
