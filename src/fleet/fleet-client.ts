/**
 * The sensor's link to the fleet over Redis (see keys.ts for the schema):
 * - heartbeats: a TTL'd record per sensor (present = up) plus its last content for the API's sensor list;
 * - block events: queued in memory and written in batches to a bounded Redis Stream, so reporting never waits on
 *   Redis from the packet path; while Redis is unreachable the queue holds up to `eventQueueLimit` events and
 *   then drops the oldest (counted);
 * - the enforcement switch: pub/sub plus a periodic re-read, last known mode kept while Redis is down.
 */
import type { Cluster, Redis } from 'ioredis';
import { EnforcementWatcher, type FleetLogger } from './enforcement-watcher.js';
import { boundedEvent, boundedHeartbeat, checkSensorName } from './event-shape.js';
import { fleetKeys, type FleetKeys } from './keys.js';
import type { BlockEvent, EnforcementMode, EnforcementWatch, FleetLink, HeartbeatInput } from './types.js';

export interface FleetClientOptions {
  /** A connected client (from createRedis); the client is not closed by close(). */
  readonly redis: Redis | Cluster;
  /** Stamped on every event; also the default heartbeat name. */
  readonly sensorName: string;
  readonly keyPrefix?: string;
  /** Approximate length the event stream is trimmed to (default 100,000). */
  readonly eventStreamMaxLen?: number;
  /** Events held while Redis is slow or down (default 10,000); beyond it the oldest are dropped. */
  readonly eventQueueLimit?: number;
  /** How often queued events are written (default 100 ms). */
  readonly flushIntervalMs?: number;
  /** Re-read period of the enforcement switch, the fallback to pub/sub (default 500 ms). */
  readonly enforcementPollMs?: number;
  readonly log?: FleetLogger;
  readonly clock?: () => number;
}

const DEFAULT_HEARTBEAT_MS = 5000;
const FLUSH_BATCH = 500;

export class FleetClient implements FleetLink {
  private readonly redis: Redis | Cluster;
  private readonly keys: FleetKeys;
  private readonly sensorName: string;
  private readonly maxLen: number;
  private readonly queueLimit: number;
  private readonly clock: () => number;
  private queue: string[] = [];
  private flushing: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly watchers = new Set<EnforcementWatcher>();
  private written = 0;
  private dropped = 0;
  private closed = false;
  private lastFlushError = 0;

  constructor(private readonly options: FleetClientOptions) {
    this.redis = options.redis;
    this.keys = fleetKeys(options.keyPrefix);
    this.sensorName = checkSensorName(options.sensorName);
    this.maxLen = options.eventStreamMaxLen ?? 100_000;
    this.queueLimit = options.eventQueueLimit ?? 10_000;
    this.clock = options.clock ?? Date.now;
  }

  async reportHeartbeat(heartbeat: HeartbeatInput): Promise<void> {
    const hb = boundedHeartbeat(heartbeat);
    const nowMs = this.clock();
    const interval = hb.intervalMs ?? DEFAULT_HEARTBEAT_MS;
    const json = JSON.stringify({ ...hb, intervalMs: interval, lastSeen: new Date(nowMs).toISOString() });
    // Three independent single-key commands (no MULTI): they work unchanged on Redis Cluster.
    await Promise.all([
      this.redis.set(this.keys.sensor(hb.name), json, 'PX', 3 * interval),
      this.redis.zadd(this.keys.sensors, nowMs, hb.name),
      this.redis.hset(this.keys.heartbeats, hb.name, json),
    ]);
  }

  /** Reports a heartbeat now and then every `intervalMs`; errors are logged, never thrown. Returns a stop function. */
  startHeartbeats(read: () => HeartbeatInput, intervalMs = DEFAULT_HEARTBEAT_MS): () => void {
    const beat = (): void => {
      let hb: HeartbeatInput;
      try {
        hb = { ...read(), intervalMs };
      } catch (err) {
        this.options.log?.warn({ err }, 'heartbeat content could not be read');
        return;
      }
      this.reportHeartbeat(hb).catch((err: unknown) => this.options.log?.warn({ err }, 'heartbeat not written to Redis'));
    };
    beat();
    const timer = setInterval(beat, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  reportEvent(event: BlockEvent): void {
    if (this.closed) return;
    let json: string;
    try {
      json = JSON.stringify(boundedEvent(event, this.sensorName, this.clock()));
    } catch {
      this.dropped++;
      return;
    }
    if (this.queue.length >= this.queueLimit) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(json);
    if (this.flushTimer === null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        void this.flush();
      }, this.options.flushIntervalMs ?? 100);
      this.flushTimer.unref();
    }
  }

  /** Writes queued events now (batches of 500, one pipeline each). Resolves when the queue is empty or Redis failed. */
  flush(): Promise<void> {
    if (this.flushing === null) {
      this.flushing = this.writeQueued().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  private async writeQueued(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, FLUSH_BATCH);
        const pipeline = this.redis.pipeline();
        for (const json of batch) pipeline.xadd(this.keys.events, 'MAXLEN', '~', this.maxLen, '*', 'e', json);
        const results = await pipeline.exec();
        const failed = results?.find(([err]) => err !== null);
        if (results === null || failed) throw failed?.[0] ?? new Error('pipeline aborted');
        // Only now drop them from the queue: a failed write leaves them for the next attempt.
        this.queue.splice(0, batch.length);
        this.written += batch.length;
      }
    } catch (err) {
      const now = this.clock();
      if (now - this.lastFlushError > 10_000) this.options.log?.warn({ err, queued: this.queue.length }, 'block events not written to Redis; kept in memory and retried');
      this.lastFlushError = now;
      if (!this.closed && this.flushTimer === null) {
        this.flushTimer = setTimeout(() => {
          this.flushTimer = null;
          void this.flush();
        }, 1000);
        this.flushTimer.unref();
      }
    }
  }

  watchEnforcement(onChange: (mode: EnforcementMode) => void): EnforcementWatch {
    const watcher = new EnforcementWatcher(
      this.redis,
      this.keys,
      this.options.enforcementPollMs ?? 500,
      (state) => onChange(state.mode),
      this.options.log,
    );
    this.watchers.add(watcher);
    watcher.start();
    return {
      current: () => watcher.state?.mode ?? null,
      stop: () => {
        watcher.stop();
        this.watchers.delete(watcher);
      },
    };
  }

  eventStats(): { queued: number; written: number; dropped: number } {
    return { queued: this.queue.length, written: this.written, dropped: this.dropped };
  }

  /** Stops the watches and writes what is queued (waiting at most `timeoutMs`). */
  async close(timeoutMs = 2000): Promise<void> {
    for (const w of this.watchers) w.stop();
    this.watchers.clear();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.queue.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.closed = true;
  }
}
