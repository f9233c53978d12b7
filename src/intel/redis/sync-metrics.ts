/**
 * Prometheus metrics of the sensor's Redis intel sync. Gauges are read in collect() callbacks at scrape time, never
 * per change; the apply path only bumps counters and observes the lag histogram.
 *
 *   offpath_intel_entries{kind,action}       gauge    entries in the sensor's set
 *   offpath_intel_version                    gauge    store version applied (Redis side)
 *   offpath_intel_set_version                gauge    local change counter of the set (expiry included)
 *   offpath_intel_sync_lag_seconds           histogram  change written in Redis -> applied here
 *   offpath_intel_changes_applied_total{op}  counter  upsert / remove events applied
 *   offpath_intel_resyncs_total{reason}      counter  full snapshot loads after the first one
 *   offpath_intel_sync_malformed_total       counter  records and events skipped as malformed
 *   offpath_intel_redis_connected            gauge    1 while Redis answers, else 0
 *   offpath_intel_sync_state{state}          gauge    1 for the current state (connecting, live, stale)
 *   offpath_intel_stale_seconds              gauge    0 when live, else seconds since last known in sync
 *   offpath_intel_cache_age_seconds          gauge    seconds since the disk cache was written (-1 without one)
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { INTEL_ACTIONS } from '../action.js';
import { INDICATOR_KINDS } from '../indicator.js';
import type { IntelSet } from '../intel-set.js';

export type SyncState = 'connecting' | 'live' | 'stale';
export const SYNC_STATES: readonly SyncState[] = ['connecting', 'live', 'stale'];

export interface SyncGaugeSource {
  readonly set: IntelSet;
  versionApplied(): number;
  connected(): boolean;
  state(): SyncState;
  staleSeconds(): number;
  cacheAgeSeconds(): number;
}

export interface SyncMetrics {
  readonly lag: Histogram<string>;
  readonly applied: Counter<'op'>;
  readonly resyncs: Counter<'reason'>;
  readonly malformed: Counter<string>;
}

/** Registers the sync metrics on `registry`. `entries: false` leaves offpath_intel_entries to someone else. */
export function registerSyncMetrics(registry: Registry, source: SyncGaugeSource, options: { entries?: boolean } = {}): SyncMetrics {
  const registers = [registry];
  if (options.entries !== false) {
    new Gauge({
      name: 'offpath_intel_entries',
      help: 'Intel entries in the sensor set, by indicator kind and action',
      labelNames: ['kind', 'action'],
      registers,
      collect() {
        const counts = source.set.counts();
        for (const kind of INDICATOR_KINDS) for (const action of INTEL_ACTIONS) this.set({ kind, action }, counts.byKindAndAction[kind][action]);
      },
    });
  }
  new Gauge({
    name: 'offpath_intel_version',
    help: 'Intel store version (Redis) applied to the sensor set',
    registers,
    collect() {
      this.set(source.versionApplied());
    },
  });
  new Gauge({
    name: 'offpath_intel_set_version',
    help: 'Local change counter of the sensor set (every add, update, remove and expiry)',
    registers,
    collect() {
      this.set(source.set.version);
    },
  });
  new Gauge({
    name: 'offpath_intel_redis_connected',
    help: '1 while Redis answers the sync client, else 0',
    registers,
    collect() {
      this.set(source.connected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'offpath_intel_sync_state',
    help: 'Sync state: 1 for the current one (connecting, live, stale)',
    labelNames: ['state'],
    registers,
    collect() {
      const current = source.state();
      for (const state of SYNC_STATES) this.set({ state }, state === current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'offpath_intel_stale_seconds',
    help: 'Seconds since the sensor set was last known to match Redis (0 while live)',
    registers,
    collect() {
      this.set(source.staleSeconds());
    },
  });
  new Gauge({
    name: 'offpath_intel_cache_age_seconds',
    help: 'Seconds since the local intel cache file was last written (-1 without one)',
    registers,
    collect() {
      this.set(source.cacheAgeSeconds());
    },
  });
  return {
    lag: new Histogram({
      name: 'offpath_intel_sync_lag_seconds',
      help: 'Time from a change written in Redis (server clock) to its application in the sensor set',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
    applied: new Counter({ name: 'offpath_intel_changes_applied_total', help: 'Change events applied, by operation', labelNames: ['op'], registers }),
    resyncs: new Counter({ name: 'offpath_intel_resyncs_total', help: 'Full snapshot loads after the first one, by reason', labelNames: ['reason'], registers }),
    malformed: new Counter({ name: 'offpath_intel_sync_malformed_total', help: 'Records and change events skipped because they cannot be decoded', registers }),
  };
}
