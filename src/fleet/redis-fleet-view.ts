/**
 * The API's view of the fleet in Redis (schema in keys.ts): sensor list from heartbeats, block event history from
 * the event stream and a live tail of it for Server-Sent Events, and the enforcement switch (read, cached for
 * `check`, and written with a pub/sub notification so sensors react at once).
 */
import type { Cluster, Redis } from 'ioredis';
import { EnforcementWatcher, type FleetLogger } from './enforcement-watcher.js';
import { boundedHeartbeat } from './event-shape.js';
import { fleetKeys, type FleetKeys } from './keys.js';
import { parseStreamId } from './stream-id.js';
import {
  DEFAULT_ENFORCEMENT, type BlockEvent, type EnforcementMode, type EnforcementState, type EventPage, type EventQuery,
  type FleetView, type HeartbeatInput, type SensorStatus, type StoredEvent,
} from './types.js';

export interface RedisFleetViewOptions {
  readonly redis: Redis | Cluster;
  readonly keyPrefix?: string;
  /** Re-read period of the enforcement switch (default 500 ms). */
  readonly enforcementPollMs?: number;
  /** Sensors silent for longer than this leave the list (default 7 days). */
  readonly forgetSensorsAfterMs?: number;
  readonly log?: FleetLogger;
  readonly clock?: () => number;
}

type StreamEntry = [id: string, fields: string[]];

export class RedisFleetView implements FleetView {
  private readonly redis: Redis | Cluster;
  private readonly keys: FleetKeys;
  private readonly clock: () => number;
  private readonly watcher: EnforcementWatcher;
  private cached: EnforcementState = DEFAULT_ENFORCEMENT;
  private readonly listeners = new Set<(event: StoredEvent) => void>();
  private tail: Redis | Cluster | null = null;
  private tailRunning = false;
  private closed = false;

  constructor(private readonly options: RedisFleetViewOptions) {
    this.redis = options.redis;
    this.keys = fleetKeys(options.keyPrefix);
    this.clock = options.clock ?? Date.now;
    this.watcher = new EnforcementWatcher(this.redis, this.keys, options.enforcementPollMs ?? 500, (state) => {
      this.cached = state;
    }, options.log);
  }

  /** Starts following the enforcement switch (reads it once before resolving, when Redis answers). */
  async start(): Promise<void> {
    this.watcher.start();
    await this.watcher.read();
  }

  async sensors(): Promise<SensorStatus[]> {
    const now = this.clock();
    const forgetBefore = now - (this.options.forgetSensorsAfterMs ?? 7 * 86_400_000);
    const [scored, contents] = await Promise.all([
      this.redis.zrange(this.keys.sensors, 0, -1, 'WITHSCORES'),
      this.redis.hgetall(this.keys.heartbeats),
    ]);
    const names: { name: string; lastMs: number }[] = [];
    for (let i = 0; i + 1 < scored.length; i += 2) names.push({ name: scored[i]!, lastMs: Number(scored[i + 1]) });
    const forgotten = names.filter((n) => n.lastMs < forgetBefore).map((n) => n.name);
    if (forgotten.length > 0) {
      await Promise.all([this.redis.zrem(this.keys.sensors, ...forgotten), this.redis.hdel(this.keys.heartbeats, ...forgotten)]);
    }
    const live = names.filter((n) => n.lastMs >= forgetBefore);
    const up = await Promise.all(live.map((n) => this.redis.exists(this.keys.sensor(n.name))));
    const out: SensorStatus[] = [];
    live.forEach(({ name, lastMs }, i) => {
      const hb = parseHeartbeat(contents[name], name);
      out.push({ ...hb, lastSeen: new Date(lastMs).toISOString(), status: up[i] === 1 ? 'up' : 'down' });
    });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async enforcement(): Promise<EnforcementState> {
    await this.watcher.read();
    return this.watcher.state ?? this.cached;
  }

  cachedEnforcement(): EnforcementState {
    return this.cached;
  }

  async setEnforcement(mode: EnforcementMode, actor: string): Promise<EnforcementState> {
    const state: EnforcementState = { mode, changedAt: new Date(this.clock()).toISOString(), changedBy: actor };
    const json = JSON.stringify(state);
    await this.redis.set(this.keys.enforcement, json);
    // The poll would carry it within a period anyway; the message makes it milliseconds.
    await this.redis.publish(this.keys.enforcementChannel, json);
    this.cached = state;
    return state;
  }

  async events(query: EventQuery): Promise<EventPage> {
    const limit = Math.max(1, query.limit);
    let entries: StreamEntry[];
    let more: boolean;
    if (query.afterId !== undefined || query.sinceMs !== undefined) {
      const start = query.afterId !== undefined ? `(${query.afterId}` : `${Math.max(0, Math.floor(query.sinceMs!))}-0`;
      entries = (await this.redis.xrange(this.keys.events, start, '+', 'COUNT', limit + 1)) as StreamEntry[];
      more = entries.length > limit;
      if (more) entries = entries.slice(0, limit);
    } else {
      entries = ((await this.redis.xrevrange(this.keys.events, '+', '-', 'COUNT', limit)) as StreamEntry[]).reverse();
      more = false;
    }
    const events = entries.map(toStoredEvent).filter((e): e is StoredEvent => e !== null);
    const last = entries.length > 0 ? entries[entries.length - 1]![0] : (query.afterId ?? null);
    return { events, nextCursor: last, more };
  }

  subscribeEvents(listener: (event: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.tailRunning) void this.runTail();
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** One blocking reader for all live subscribers; runs while anyone listens. */
  private async runTail(): Promise<void> {
    this.tailRunning = true;
    let tail = this.tail;
    if (tail === null) {
      tail = this.tail = this.redis.duplicate();
      tail.on('error', () => undefined); // reconnects by itself; the loop retries
    }
    let lastId: string | null = null;
    try {
      while (!this.closed && this.listeners.size > 0) {
        try {
          if (lastId === null) {
            const newest = (await tail.xrevrange(this.keys.events, '+', '-', 'COUNT', 1)) as StreamEntry[];
            lastId = newest.length > 0 ? newest[0]![0] : '0-0';
          }
          const reply = (await tail.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.keys.events, lastId)) as [string, StreamEntry[]][] | null;
          if (reply === null) continue;
          for (const [, entries] of reply) {
            for (const entry of entries) {
              lastId = entry[0];
              const event = toStoredEvent(entry);
              if (event === null) continue;
              for (const listener of this.listeners) {
                try {
                  listener(event);
                } catch {
                  // one failing subscriber must not starve the others
                }
              }
            }
          }
        } catch (err) {
          if (this.closed) break;
          this.options.log?.warn({ err }, 'event stream tail failed; retrying in 1 s');
          await new Promise((resolve) => setTimeout(resolve, 1000).unref());
        }
      }
    } finally {
      this.tailRunning = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher.stop();
    this.listeners.clear();
    const tail = this.tail;
    this.tail = null;
    if (tail) tail.disconnect();
  }
}

function toStoredEvent([id, fields]: StreamEntry): StoredEvent | null {
  if (parseStreamId(id) === null) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'e') continue;
    try {
      const event = JSON.parse(fields[i + 1]!) as BlockEvent;
      if (event !== null && typeof event === 'object' && !Array.isArray(event)) return { id, event };
    } catch {
      return null;
    }
  }
  return null;
}

/** A stored heartbeat, read with the same rules a sensor's heartbeat is written with (unreadable: the bare name). */
function parseHeartbeat(text: string | undefined, name: string): HeartbeatInput {
  const empty: HeartbeatInput = { name, interfaces: [], version: '', intelVersion: 0, pps: 0, drops: 0 };
  if (text === undefined) return empty;
  try {
    const v = JSON.parse(text) as Partial<HeartbeatInput> | null;
    return v !== null && typeof v === 'object' ? boundedHeartbeat({ ...empty, ...v, name }) : empty;
  } catch {
    return empty;
  }
}
