import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { decodeErrorNames } from '../decode/decode-error.js';
import type { IntelSet } from '../intel/intel-set.js';
import type { Engine } from '../pipeline/engine.js';
import type { LiveCaptureStats } from '../capture/live/live-capture.js';
import type { InjectionPath } from '../respond/injection/injection-path.js';
import type { KillTimings } from '../respond/kill-verifier.js';
import type { KillVerifier } from '../respond/kill-verifier.js';

/** What the sensor exposes for the metrics to read at scrape time (the hot path only bumps plain numbers). */
export interface SensorMetricSources {
  engine: Engine;
  intel: IntelSet;
  capture: () => LiveCaptureStats;
  injection: InjectionPath | null;
  kills: KillVerifier | null;
  enforcing: () => boolean;
}

/** Buckets from 10 µs to 10 s: a kill is a sub-millisecond race on a LAN, seconds across a WAN. */
const LATENCY_BUCKETS = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The sensor's Prometheus metrics. Counters mirror the pipeline's own numbers when scraped (collect callbacks),
 * so that counting costs nothing per packet; only the two timing histograms are observed as events happen.
 */
export class SensorMetrics implements KillTimings {
  readonly registry: Registry;
  private readonly triggerToInjectionHistogram: Histogram;
  private readonly injectionToKillHistogram: Histogram;
  private sources: SensorMetricSources | null = null;
  private readonly intelMetrics: boolean;

  /** `processMetrics`: also export the process's own metrics (CPU, memory, event-loop lag); off in pool workers. */
  /** `intelMetrics`: export intel entries and version here (off when the Redis sync exports them itself). */
  constructor(registry = new Registry(), options: { processMetrics?: boolean; intelMetrics?: boolean } = {}) {
    this.registry = registry;
    this.intelMetrics = options.intelMetrics ?? true;
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'offpath_' });
    this.triggerToInjectionHistogram = new Histogram({
      name: 'offpath_trigger_to_injection_seconds',
      help: 'Capture timestamp of the packet that triggered a round of resets to the injection call returning',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.injectionToKillHistogram = new Histogram({
      name: 'offpath_injection_to_kill_seconds',
      help: 'First injected reset to the kill being confirmed (an endpoint reset seen, or the session silent)',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.defineCounters();
  }

  triggerToInjection(seconds: number): void {
    this.triggerToInjectionHistogram.observe(seconds);
  }

  injectionToKill(seconds: number): void {
    this.injectionToKillHistogram.observe(seconds);
  }

  attach(sources: SensorMetricSources): void {
    this.sources = sources;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private defineCounters(): void {
    const r = this.registry;
    const src = (): SensorMetricSources | null => this.sources;
    mirrorCounter(r, 'offpath_packets_captured_total', 'Packets captured from the mirror', [], (set) => {
      const s = src();
      if (s) set([], s.engine.counters.packets);
    });
    mirrorCounter(r, 'offpath_bytes_captured_total', 'Bytes on the wire of the packets captured', [], (set) => {
      const s = src();
      if (s) set([], s.engine.counters.wireBytes);
    });
    mirrorCounter(r, 'offpath_capture_drops_total', 'Packets dropped before the sensor saw them, by where', ['where'], (set) => {
      const s = src();
      if (!s) return;
      const stats = s.capture();
      // No kernel series for a backend that cannot count them (cap): an absent series reads as unknown, 0 as none.
      if (stats.kernelDropped !== null) set(['kernel'], stats.kernelDropped);
      set(['interface'], stats.interfaceDropped);
    });
    mirrorCounter(r, 'offpath_decode_errors_total', 'Malformed packets, by reason', ['reason'], (set) => {
      const s = src();
      if (!s) return;
      const errors = s.engine.counters.decodeErrors;
      for (let i = 1; i < errors.length; i++) if (errors[i]! > 0) set([decodeErrorNames[i]!], errors[i]!);
    });
    mirrorCounter(r, 'offpath_sessions_created_total', 'L4 sessions created, by protocol', ['proto'], (set) => {
      const s = src();
      if (!s) return;
      const c = s.engine.sessionsCreated();
      set(['tcp'], c.tcp);
      set(['udp'], c.udp);
      set(['other'], c.other);
    });
    mirrorGauge(r, 'offpath_sessions_active', 'L4 sessions in the table', [], (set) => {
      const s = src();
      if (s) set([], s.engine.table.active);
    });
    mirrorCounter(r, 'offpath_sessions_evicted_total', 'Sessions shed because the table was full', [], (set) => {
      const s = src();
      if (s) set([], s.engine.table.evicted);
    });
    mirrorCounter(r, 'offpath_matches_total', 'Sessions matched by intel, by action', ['action'], (set) => {
      const s = src();
      const m = s?.engine.responder?.matches;
      if (!m) return;
      set(['block'], m.block);
      set(['monitor'], m.monitor);
      set(['allow'], m.allow);
    });
    mirrorCounter(r, 'offpath_guard_stops_total', 'Block decisions or rounds a guard stopped, by guard', ['guard'], (set) => {
      const stopped = src()?.engine.responder?.guards.stopped;
      if (!stopped) return;
      for (const [guard, n] of stopped) set([guard], n);
    });
    mirrorCounter(r, 'offpath_rst_packets_sent_total', 'Crafted TCP resets handed to the injection path', [], (set) => {
      const s = src();
      if (s?.engine.responder) set([], s.engine.responder.resetPackets);
    });
    mirrorCounter(r, 'offpath_probe_packets_sent_total', 'Probes sent to quiet sessions to learn their exact sequence numbers', [], (set) => {
      const s = src();
      if (s?.engine.responder) set([], s.engine.responder.probePackets);
    });
    mirrorCounter(r, 'offpath_icmp_packets_sent_total', 'ICMP administratively-prohibited answers to blocked UDP', [], (set) => {
      const s = src();
      if (s?.engine.responder) set([], s.engine.responder.icmpPackets);
    });
    mirrorCounter(r, 'offpath_injected_frames_total', 'Frames put on the injection interface, by result', ['result'], (set) => {
      const inj = src()?.injection;
      if (!inj) return;
      set(['sent'], inj.sent);
      set(['failed'], inj.failed);
      set(['no_neighbor'], inj.noNeighbor);
    });
    mirrorCounter(r, 'offpath_kills_attempted_total', 'Blocked sessions that got a first round of resets', [], (set) => {
      const k = src()?.kills;
      if (k) set([], k.attempted);
    });
    mirrorCounter(r, 'offpath_kills_confirmed_total', 'Kills confirmed, by how', ['how'], (set) => {
      const k = src()?.kills;
      if (!k) return;
      set(['endpoint_reset'], k.confirmedByReset);
      set(['silence'], k.confirmedBySilence);
    });
    mirrorCounter(r, 'offpath_kills_failed_total', 'Kills that still showed life after every round of resets', [], (set) => {
      const k = src()?.kills;
      if (k) set([], k.failed);
    });
    mirrorGauge(r, 'offpath_kills_pending', 'Kills waiting for confirmation', [], (set) => {
      const k = src()?.kills;
      if (k) set([], k.pendingCount);
    });
    mirrorGauge(r, 'offpath_enforcing', '1 when the sensor sends resets, 0 in monitor (dry-run) mode', [], (set) => {
      const s = src();
      if (s) set([], s.enforcing() ? 1 : 0);
    }, 'min');
    if (this.intelMetrics && !r.getSingleMetric('offpath_intel_entries')) {
      mirrorGauge(r, 'offpath_intel_entries', 'Intel entries held, by kind and action', ['kind', 'action'], (set) => {
        const s = src();
        if (!s) return;
        const counts = s.intel.counts().byKindAndAction;
        for (const [kind, byAction] of Object.entries(counts)) for (const [action, n] of Object.entries(byAction)) set([kind, action], n);
      }, 'first');
    }
    if (this.intelMetrics && !r.getSingleMetric('offpath_intel_version')) {
      mirrorGauge(r, 'offpath_intel_version', 'Version of the intel set (changes with every change)', [], (set) => {
        const s = src();
        if (s) set([], s.intel.version);
      }, 'first');
    }
  }
}

type Setter = (labels: string[], value: number) => void;

/** A counter whose value is read from the pipeline at scrape time. */
function mirrorCounter(registry: Registry, name: string, help: string, labelNames: string[], read: (set: Setter) => void): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect(this: Counter) {
      this.reset();
      read((labels, value) => {
        if (value < 0) return; // a known zero is exported: an absent series means unknown
        if (labels.length === 0) this.inc(value);
        else this.inc(Object.fromEntries(labelNames.map((l, i) => [l, labels[i]!])), value);
      });
    },
  });
}

function mirrorGauge(registry: Registry, name: string, help: string, labelNames: string[], read: (set: Setter) => void, aggregator: 'sum' | 'first' | 'min' = 'sum'): void {
  new Gauge({
    name, help, labelNames, registers: [registry], aggregator,
    collect(this: Gauge) {
      this.reset();
      read((labels, value) => {
        if (labels.length === 0) this.set(value);
        else this.set(Object.fromEntries(labelNames.map((l, i) => [l, labels[i]!])), value);
      });
    },
  });
}
