/**
 * RedisIntelSync: the sensor side of the fleet intel set. Keeps an in-memory IntelSet equal to the set in Redis:
 *
 * - start: a snapshot (record hashes read in bounded windows) consistent with a stream position, then the change
 *   stream from that position (XREAD BLOCK), applied change by change;
 * - every event carries EPOCH-VERSION as its ID: a version gap (the stream was trimmed past us) or another epoch
 *   (FLUSHALL, keys deleted) triggers a full resync; a resync builds the new content aside and swaps it in with one
 *   synchronous reconcile(), so the set is never empty or half-applied;
 * - Redis unreachable or stalled (every command has a timeout): the set stays as it is and keeps enforcing, expiry
 *   still runs locally by time, status() reports how stale it is; on reconnect it resumes after the last applied
 *   event (or resyncs if that position is gone);
 * - the last good set is written to a local cache file now and then, so a sensor restarting while Redis is down
 *   still enforces.
 *
 * Malformed records and events are skipped and counted, never thrown: the set holds what could be decoded.
 */
import type { Registry } from 'prom-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { profileSlot } from '../interner.js';
import type { PreparedEntry } from '../entry.js';
import { parseIndicator, type IndicatorKind } from '../indicator.js';
import { IntelSet } from '../intel-set.js';
import { actionCode } from '../action.js';
import { forEachLiveHandle, planReconcile, reconcile, type ReconcileResult } from '../reconcile.js';
import { connectionErrorExplainer, createRedis, describeRedis, DEFAULT_COMMAND_TIMEOUT_MS, type RedisClient, type RedisConnectionOptions } from './connection.js';
import { CacheJournal, loadIntelCache, writeIntelCache, type CacheLoadResult } from './disk-cache.js';
import { MalformedRecordError, RedisSchemaError } from './errors.js';
import { decodeEntry } from './record-codec.js';
import { identityField, intelKeys, parseStreamId, SHARD_COUNT, splitIdentityField, streamId, type IntelKeys } from './schema.js';
import { firstVersionOf, parseEvent, readPosition, readRecords, type ChangeEvent, type StreamEntries, type StorePosition } from './snapshot.js';
import type { WriteEcho } from './write-echo.js';
import { registerSyncMetrics, type SyncMetrics, type SyncState } from './sync-metrics.js';

/** Snapshot records upserted together (see IntelSet.prefetchAll). */
const UPSERT_BATCH = 64;

/** The subset of a pino logger used here. */
export interface SyncLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface AppliedChange {
  readonly version: number;
  readonly op: 'u' | 'r';
  /** Redis server time of the write, ms (NaN if the event lacked it). */
  readonly writtenMs: number;
  /** Local time of the application, ms. */
  readonly appliedMs: number;
}

export interface RedisIntelSyncOptions {
  readonly redis: RedisConnectionOptions;
  /** The sensor's set, changed in place. */
  readonly set: IntelSet;
  /** Local cache of the last good set (written atomically); loaded at start when Redis cannot be reached. */
  readonly cacheFile?: string;
  readonly log?: SyncLogger;
  /** Metrics go here when given (see sync-metrics.ts). */
  readonly registry?: Registry;
  /** Register offpath_intel_entries too (default true). */
  readonly entriesMetric?: boolean;
  /**
   * Sources this sync owns in the set (default: all). A resync removes only in-scope entries missing from Redis,
   * so entries from elsewhere (intel files) can share the set.
   */
  readonly scope?: (source: string) => boolean;
  /** XREAD BLOCK time (default 1000 ms); an idle period also checks that Redis was not flushed meanwhile. */
  readonly blockMs?: number;
  /**
   * Changes aimed at per XREAD (default 2000): the event count asked for adapts to the changes per event seen
   * (a batch event carries hundreds), so one read stays about this size.
   */
  readonly readCount?: number;
  /** How often the cache file is rewritten when the set changed (default 120 s; about 2 s of CPU per million entries, in slices). */
  readonly cacheIntervalMs?: number;
  /** Record hashes per snapshot round trip (default 8). */
  readonly snapshotWindow?: number;
  /** Schedule set.expire() from set.nextExpiry() (default true). */
  readonly expire?: boolean;
  /** Called after each applied change (benchmarks, diagnostics). */
  readonly onApplied?: (change: AppliedChange) => void;
  /**
   * What this process's own RedisIntelStore wrote (its `echo` option): entries of batch events found there with
   * the same content are applied without decoding their records again (the API following its own imports).
   */
  readonly echo?: WriteEcho;
}

export interface SyncStatus {
  /** connecting: nothing loaded yet; live: following Redis; stale: enforcing the last known set, Redis away or behind. */
  readonly state: SyncState;
  /** Where the set came from at start: Redis, the disk cache, or nothing (Redis down and no cache). */
  readonly startedFrom: 'redis' | 'cache' | 'none' | null;
  readonly connected: boolean;
  readonly redis: string;
  readonly epoch: string | null;
  readonly versionApplied: number;
  readonly lastAppliedStreamId: string;
  /** 0 while live; seconds since last known in sync otherwise; null when never in sync. */
  readonly staleSeconds: number | null;
  readonly lastSyncedAt: number | null;
  readonly resyncs: number;
  readonly skippedMalformed: number;
  readonly changesApplied: number;
  readonly entries: number;
  readonly cache: { readonly file: string; readonly writtenAt: number | null; readonly entries: number | null; readonly lastError: string | null } | null;
  readonly lastError: string | null;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;
const RESYNC_ATTEMPTS = 3;
const LOG_REPEAT_MS = 30_000;
/** Longest single timer (setTimeout overflows past 2^31 - 1 ms). */
const MAX_TIMER_MS = 3_600_000;
/** Changes aimed at per catch-up XRANGE (event count adapted as for XREAD). */
const CATCH_UP_CHANGES = 5000;
/** Changes applied between two yields to the event loop (a sensor keeps matching while it applies a burst). */
const APPLY_YIELD_EVERY = 4096;

export class RedisIntelSync {
  readonly set: IntelSet;
  readonly keys: IntelKeys;
  private readonly main: RedisClient;
  private reader: RedisClient | null = null;
  private readonly log: SyncLogger | undefined;
  private readonly scope: (source: string) => boolean;
  private readonly scopeIsAll: boolean;
  private readonly blockMs: number;
  private readonly readCount: number;
  /** Events asked for by the next XREAD (see readCount). */
  private readEvents: number;
  /** Changes aimed at by the next XREAD: readCount, doubled while reads come back full (catching up a burst). */
  private readTarget: number;
  private readonly window: number | undefined;
  private readonly metrics: SyncMetrics | null;
  private readonly where: string;
  private readonly explain: (err: unknown) => string;
  private readonly echo: WriteEcho | undefined;

  private epoch: string | null = null;
  private versionApplied = 0;
  private lastId = '0-0';
  private state: SyncState = 'connecting';
  private startedFrom: SyncStatus['startedFrom'] = null;
  private connected = false;
  private lastSyncedAt: number | null = null;
  private resyncs = 0;
  private malformed = 0;
  private changesApplied = 0;
  private lastError: string | null = null;
  private failingSince: number | null = null;
  private lastFailureLog = 0;

  private needResync: string | null = null;
  private needPositionCheck = false;
  private idleBehind = false;
  private closed = false;
  private started = false;
  private loop: Promise<void> | null = null;
  /** True once the set holds a complete load (from Redis or the cache): only then is it written to the cache. */
  private complete = false;

  /** A reconcile plan is being made: expiry waits, so the set does not change under it. */
  private planning = false;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryAt = 0;
  private cacheTimer: NodeJS.Timeout | null = null;
  private journal: CacheJournal | null = null;
  private cacheWriting: Promise<void> | null = null;
  private cacheWrittenAt: number | null = null;
  private cacheEntries: number | null = null;
  private cacheError: string | null = null;
  private cacheWrittenFor = '';
  private waiters: { version: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }[] = [];

  constructor(private readonly options: RedisIntelSyncOptions) {
    this.set = options.set;
    this.keys = intelKeys(options.redis.keyPrefix);
    this.log = options.log;
    this.scopeIsAll = options.scope === undefined;
    this.scope = options.scope ?? (() => true);
    const commandTimeout = options.redis.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    // The blocking read must come back well before the command timeout, or a quiet stream would look like a stall.
    this.blockMs = Math.max(10, Math.min(options.blockMs ?? 1000, Math.floor(commandTimeout / 2)));
    this.readCount = Math.max(1, options.readCount ?? 2000);
    this.readEvents = this.readCount;
    this.readTarget = this.readCount;
    this.window = options.snapshotWindow;
    this.echo = options.echo;
    this.where = describeRedis(options.redis);
    this.main = createRedis({ connectionName: 'offpath-sensor', ...options.redis }, { lazyConnect: true });
    // Failures surface on commands and are handled there; the explainer turns them into readable messages.
    this.explain = connectionErrorExplainer(this.main, this.where);
    this.metrics = options.registry
      ? registerSyncMetrics(options.registry, {
          set: this.set,
          versionApplied: () => this.versionApplied,
          connected: () => this.connected,
          state: () => this.state,
          staleSeconds: () => this.staleSeconds() ?? -1,
          cacheAgeSeconds: () => (this.cacheWrittenAt === null ? -1 : (Date.now() - this.cacheWrittenAt) / 1000),
        }, { entries: options.entriesMetric })
      : null;
  }

  /**
   * Loads the set (from Redis, or from the disk cache when Redis cannot be reached) and starts following changes.
   * Resolves once the set holds something to enforce, or once both failed (status().startedFrom says which); it
   * never rejects for Redis being away: the sync keeps trying in the background.
   */
  async start(): Promise<SyncStatus> {
    if (this.started) throw new Error('RedisIntelSync.start() called twice');
    this.started = true;
    try {
      await this.resync('initial');
      this.startedFrom = 'redis';
    } catch (err) {
      this.failure(err);
      this.needResync = 'initial';
      this.startedFrom = 'none';
      if (this.options.cacheFile) {
        try {
          const r = await this.loadCache(this.options.cacheFile);
          this.startedFrom = 'cache';
          this.log?.warn({ event: 'intel-cache-loaded', file: this.options.cacheFile, entries: r.entries, version: r.version, staleSeconds: this.staleSeconds() },
            `Redis unreachable: enforcing ${r.entries} intel entries from the local cache, ${Math.round(this.staleSeconds() ?? 0)} s old`);
        } catch (cacheErr) {
          this.log?.error({ event: 'intel-cache-failed', file: this.options.cacheFile, error: (cacheErr as Error).message },
            'Redis unreachable and the local intel cache unusable: no intel enforced until Redis answers');
        }
      } else {
        this.log?.error({ event: 'intel-none' }, 'Redis unreachable and no local intel cache: no intel enforced until Redis answers');
      }
    }
    if (this.closed) return this.status();
    this.loop = this.run();
    if (this.options.cacheFile) {
      this.cacheTimer = setInterval(() => void this.writeCache(false), this.options.cacheIntervalMs ?? 120_000);
      this.cacheTimer.unref();
      if (this.startedFrom === 'redis') void this.writeCache(false);
    }
    this.scheduleExpiry();
    return this.status();
  }

  status(): SyncStatus {
    return {
      state: this.state,
      startedFrom: this.startedFrom,
      connected: this.connected,
      redis: this.where,
      epoch: this.epoch,
      versionApplied: this.versionApplied,
      lastAppliedStreamId: this.lastId,
      staleSeconds: this.staleSeconds(),
      lastSyncedAt: this.lastSyncedAt,
      resyncs: this.resyncs,
      skippedMalformed: this.malformed,
      changesApplied: this.changesApplied,
      entries: this.set.size,
      cache: this.options.cacheFile
        ? { file: this.options.cacheFile, writtenAt: this.cacheWrittenAt, entries: this.cacheEntries, lastError: this.cacheError }
        : null,
      lastError: this.lastError,
    };
  }

  /** Resolves true once version `version` (of the current epoch) is applied, false after `timeoutMs`. */
  waitForVersion(version: number, timeoutMs: number): Promise<boolean> {
    if (this.versionApplied >= version && this.state === 'live') return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        version,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      waiter.timer.unref();
      this.waiters.push(waiter);
    });
  }

  /** Writes the cache file now (if there is one and the set is complete). */
  async flushCache(): Promise<void> {
    await this.writeCache(true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.cacheTimer) clearInterval(this.cacheTimer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
    this.reader?.disconnect();
    this.main.disconnect();
    await this.loop?.catch(() => undefined);
    await this.cacheWriting;
    if (this.options.cacheFile) await this.writeCache(false, true);
  }

  // ---------------------------------------------------------------------------------------------- follow loop

  private async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.closed) {
      try {
        if (this.needResync !== null) {
          await this.resync(this.needResync);
        } else if (this.needPositionCheck) {
          await this.checkPosition(false);
          this.needPositionCheck = false;
        } else {
          const reader = this.ensureReader();
          const asked = this.readEvents;
          const reply = await reader.xread('COUNT', asked, 'BLOCK', this.blockMs, 'STREAMS', this.keys.stream, this.lastId);
          if (this.closed) break;
          this.connected = true;
          if (reply === null || reply.length === 0 || reply[0]![1].length === 0) await this.checkPosition(true);
          else await this.applyLive(reply[0]![1] as StreamEntries, asked);
        }
        backoff = MIN_BACKOFF_MS;
      } catch (err) {
        if (this.closed) break;
        this.failure(err);
        await sleep(backoff, undefined, { ref: false });
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  private ensureReader(): RedisClient {
    if (this.reader === null) {
      this.reader = this.main.duplicate();
      this.reader.on('error', () => undefined);
    }
    return this.reader;
  }

  /** A failed or timed-out command: keep the set, mark stale, drop the blocking connection, check on return. */
  private failure(err: unknown): void {
    const message = err instanceof RedisSchemaError || err instanceof MalformedRecordError ? (err as Error).message : this.explain(err);
    this.lastError = message;
    this.connected = false;
    if (this.state === 'live') this.state = 'stale';
    // A stalled server keeps a blocking read pending; a fresh connection starts clean once it answers again.
    this.reader?.disconnect();
    this.reader = null;
    this.needPositionCheck = true;
    const now = Date.now();
    if (this.failingSince === null) this.failingSince = now;
    if (now - this.lastFailureLog >= LOG_REPEAT_MS || this.lastFailureLog < this.failingSince) {
      this.lastFailureLog = now;
      this.log?.warn({ event: 'intel-redis-failure', redis: this.where, error: message, staleSeconds: this.staleSeconds(), versionApplied: this.versionApplied },
        `intel sync: ${message}; enforcing the last known set`);
    }
  }

  /** Redis answered and the set is caught up. */
  private markLive(): void {
    this.connected = true;
    this.state = 'live';
    this.lastSyncedAt = Date.now();
    if (this.failingSince !== null) {
      this.log?.info({ event: 'intel-redis-back', redis: this.where, downSeconds: (Date.now() - this.failingSince) / 1000, versionApplied: this.versionApplied },
        `intel sync: ${this.where} answers again`);
      this.failingSince = null;
    }
    this.notifyWaiters();
  }

  /** Compares the position in Redis with ours: detects flushes, resets and lost events. */
  private async checkPosition(idle: boolean): Promise<void> {
    const pos = await readPosition(this.main, this.keys);
    this.connected = true;
    if (pos.epoch !== this.epoch) {
      this.needResync = pos.epoch === null ? 'flushed' : 'epoch';
      return;
    }
    if (pos.version < this.versionApplied) {
      this.needResync = 'version-reset';
      return;
    }
    if (idle && pos.version > this.versionApplied) {
      // Behind with nothing to read, twice in a row (a write may land between the read and this check): the
      // events we need are gone.
      if (this.idleBehind) {
        this.needResync = 'events-missing';
        return;
      }
      this.idleBehind = true;
    } else {
      this.idleBehind = false;
    }
    this.markLive();
  }

  private async applyLive(entries: StreamEntries, asked: number): Promise<void> {
    let changes = 0;
    let sinceYield = 0;
    for (const [id, fields] of entries) {
      const sid = parseStreamId(id);
      if (sid !== null && this.epoch === null && this.versionApplied === 0 && this.complete && firstVersionOf(parseEvent(fields), sid.version) === 1) {
        // Our last load found no data set and this event is the first change of a new one: following it from here
        // gives what a resync would, without one (the first import into an empty Redis).
        this.epoch = sid.epoch;
      }
      if (sid === null || sid.epoch !== this.epoch) {
        // Another epoch (Redis flushed and written again) or an entry someone else added to our stream.
        const pos = await readPosition(this.main, this.keys);
        if (pos.epoch !== this.epoch) {
          this.needResync = 'epoch';
          return;
        }
        this.countMalformed(`stream entry ${id} is not an event of epoch ${this.epoch}`);
        this.lastId = id;
        continue;
      }
      if (sid.version <= this.versionApplied) {
        this.lastId = id;
        continue;
      }
      const event = parseEvent(fields);
      if (firstVersionOf(event, sid.version) > this.versionApplied + 1) {
        this.needResync = 'trimmed';
        return;
      }
      const n = this.applyEvent(this.set, event, sid.epoch, sid.version, this.versionApplied);
      this.versionApplied = sid.version;
      this.lastId = id;
      changes += n;
      sinceYield += n;
      if (sinceYield >= APPLY_YIELD_EVERY) {
        sinceYield = 0;
        this.notifyWaiters();
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.closed || this.needResync !== null) return;
      }
    }
    // Behind (the read came back full): read more per round trip, up to 16 times readCount changes, until caught up.
    this.readTarget = entries.length >= asked ? Math.min(this.readCount * 16, this.readTarget * 2) : this.readCount;
    this.readEvents = adaptCount(this.readTarget, entries.length, changes);
    this.echo?.consumed(this.versionApplied);
    this.idleBehind = false;
    this.markLive();
    this.scheduleExpiry();
  }

  /**
   * Applies one change event (null: unreadable) of version `version` to `target`, skipping the changes at or below
   * `after` (already applied); returns how many changes it held past `after`. A malformed change is counted, and
   * its entry dropped when the change names one (Redis holds something undecodable for it: a snapshot would skip
   * it too).
   */
  private applyEvent(target: IntelSet, event: ChangeEvent | null, epoch: string, version: number, after: number): number {
    if (event === null) {
      this.countMalformed(`event ${version} lacks its fields`);
      return 1;
    }
    const journal = target === this.set ? this.journal : null;
    const now = target.now();
    let upserts = 0;
    let removes = 0;
    const onApplied = this.options.onApplied;
    /** Version and op of each change applied, for onApplied (only when there is one). */
    const done: (number | 'u' | 'r')[] | null = onApplied === undefined ? null : [];
    if (event.op === 'b') {
      const first = version - event.count + 1;
      const text = event.changes;
      let at = 0;
      let n = 0;
      for (; n < event.count && at <= text.length; n++) {
        let end = text.indexOf('\n', at);
        if (end < 0) end = text.length;
        if (first + n > after) {
          const op = this.applyLine(target, text, at, end, now, journal, epoch, first + n, version);
          if (op === 'u') upserts++;
          else if (op === 'r') removes++;
          if (op !== null) done?.push(first + n, op);
        }
        at = end + 1;
      }
      if (n < event.count || at <= text.length) this.countMalformed(`event ${version} claims ${event.count} changes and holds ${n < event.count ? n : 'more'}`);
    } else {
      if (event.op === 'r') {
        this.removeField(target, event.field, journal);
        removes++;
      } else if (this.applyRecord(target, event.record, event.field, now, journal)) {
        upserts++;
      } else {
        return 1;
      }
      done?.push(version, event.op);
    }
    const appliedMs = Date.now();
    if (done !== null) for (let i = 0; i + 1 < done.length; i += 2) onApplied!({ version: done[i] as number, op: done[i + 1] as 'u' | 'r', writtenMs: event.writtenMs, appliedMs });
    this.changesApplied += upserts + removes;
    if (this.metrics !== null) {
      if (upserts > 0) this.metrics.applied.inc({ op: 'upsert' }, upserts);
      if (removes > 0) this.metrics.applied.inc({ op: 'remove' }, removes);
      // One observation per event: the changes of a batch event were written at the same moment.
      if (Number.isFinite(event.writtenMs)) this.metrics.lag.observe(Math.max(0, appliedMs - event.writtenMs) / 1000);
    }
    return event.op === 'b' ? Math.max(0, version - Math.max(after, version - event.count)) : 1;
  }

  /** One line of a batch event, text[at, end): "u<TAB>RECORD" or "r<TAB>SOURCE<TAB>ID". Null when malformed. */
  private applyLine(target: IntelSet, text: string, at: number, end: number, now: number, journal: CacheJournal | null, epoch: string, change: number, version: number): 'u' | 'r' | null {
    const op = text.charCodeAt(at);
    if (end - at > 2 && text.charCodeAt(at + 1) === 9) {
      if (op === 117 /* u */) {
        const echoed = this.echo?.match(epoch, change, text, at + 2, end);
        if (echoed === undefined) return this.applyRecord(target, text.slice(at + 2, end), null, now, journal) ? 'u' : null;
        if (echoed.expiresAt !== 0 && echoed.expiresAt <= now) {
          this.removeField(target, identityField(echoed.source, echoed.explicitId ?? echoed.indicator.text), journal);
        } else {
          target.upsertPrepared(echoed);
          journal?.upsert(text.slice(at + 2, end));
        }
        return 'u';
      }
      if (op === 114 /* r */) {
        this.removeField(target, text.slice(at + 2, end), journal);
        return 'r';
      }
    }
    this.countMalformed(`event ${version} holds a line that is not a change: ${JSON.stringify(text.slice(at, Math.min(end, at + 60)))}`);
    return null;
  }

  /**
   * Upserts a record (of identity `field` when the event names it, else its own); false when it is malformed
   * (counted, its entry dropped).
   */
  private applyRecord(target: IntelSet, record: string, field: string | null, now: number, journal: CacheJournal | null): boolean {
    let entry: PreparedEntry;
    try {
      entry = decodeEntry(field, record);
    } catch (err) {
      this.countMalformed((err as Error).message);
      // Redis now holds something undecodable for this entry: a snapshot would skip it, so drop it here too.
      const identity = field ?? identityOfRecord(record);
      if (identity !== null) this.removeField(target, identity, journal);
      return false;
    }
    if (entry.expiresAt !== 0 && entry.expiresAt <= now) {
      this.removeField(target, field ?? identityField(entry.source, entry.explicitId ?? entry.indicator.text), journal);
    } else {
      target.upsertPrepared(entry);
      journal?.upsert(record);
    }
    return true;
  }

  private removeField(target: IntelSet, field: string, journal: CacheJournal | null): void {
    const identity = splitIdentityField(field);
    if (identity === null) return;
    target.remove(identity.source, identity.id);
    journal?.remove(field);
  }

  private countMalformed(message: string): void {
    this.malformed++;
    this.metrics?.malformed.inc();
    if (this.malformed <= 10 || this.malformed % 1000 === 0) {
      this.log?.warn({ event: 'intel-malformed', skipped: this.malformed, detail: message }, `intel sync: skipped a malformed record (${message})`);
    }
  }

  // ---------------------------------------------------------------------------------------------- full loads

  /**
   * Full load: snapshot + catch-up into the set itself when it holds nothing of ours yet, otherwise into a staging
   * set that then replaces our part of the live set in one synchronous reconcile().
   */
  private async resync(reason: string): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let reserved = false;
      const pos = await readPosition(this.main, this.keys);
      const direct = !this.holdsScopedEntries();
      const target = direct ? this.set : new IntelSet({ clock: () => this.set.now() });
      let loaded = 0;
      let expired = 0;
      const now = this.set.now();
      const byKind = new Map<IndicatorKind, number>();
      // Records go in by batches, each batch's table lines read first (IntelSet.prefetchAll).
      const batch: PreparedEntry[] = [];
      const upsertBatch = (): void => {
        target.prefetchAll(batch);
        for (let i = 0; i < batch.length; i++) target.upsertPrepared(batch[i]!);
        batch.length = 0;
      };
      await readRecords(this.main, this.keys, (value) => {
        let entry: PreparedEntry;
        try {
          entry = decodeEntry(null, value);
        } catch (err) {
          this.countMalformed((err as Error).message);
          return;
        }
        if (entry.expiresAt !== 0 && entry.expiresAt <= now) {
          expired++;
          return;
        }
        batch.push(entry);
        if (batch.length === UPSERT_BATCH) upsertBatch();
        loaded++;
        if (!reserved) byKind.set(entry.indicator.kind, (byKind.get(entry.indicator.kind) ?? 0) + 1);
      }, (key, message) => this.countMalformed(`${key}: ${message}`), this.window, (done) => {
        upsertBatch(); // a window's records are all in the set before the next window is awaited
        // Records spread evenly over the shards: after the first window, size the tables once for the rest instead
        // of letting them grow step by step through the load.
        if (reserved) return;
        reserved = true;
        const factor = (SHARD_COUNT - done) / done;
        for (const [kind, n] of byKind) if (kind !== 'domain' && n * factor >= 1024) target.reserve(kind, Math.ceil(n * factor));
      });
      upsertBatch();
      const caught = await this.catchUp(target, pos);
      if (this.closed) return;
      if (caught === null) {
        if (attempt >= RESYNC_ATTEMPTS) throw new Error(`the change stream was trimmed past the snapshot position ${RESYNC_ATTEMPTS} times: raise the writers' stream length (RedisIntelStore option streamMaxLength)`);
        continue;
      }
      let result: ReconcileResult | null = null;
      if (!direct) result = await this.swapIn(target);
      while (this.set.maintain()) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.journal) this.journal.aborted = true;
      this.epoch = caught.epoch;
      this.echo?.consumed(caught.version);
      this.versionApplied = caught.version;
      this.lastId = caught.lastId;
      this.needResync = null;
      this.needPositionCheck = false;
      this.idleBehind = false;
      this.complete = true;
      const counted = reason !== 'initial' || this.startedFrom !== null;
      if (counted) {
        this.resyncs++;
        this.metrics?.resyncs.inc({ reason });
      }
      this.markLive();
      this.scheduleExpiry();
      this.log?.info({
        event: 'intel-snapshot', reason, redis: this.where, epoch: this.epoch, version: this.versionApplied, loaded, expired,
        entries: this.set.size, seconds: (Date.now() - started) / 1000, ...(result ?? {}),
      }, `intel ${reason === 'initial' ? 'loaded' : `resynchronised (${reason})`}: ${this.set.size} entries at version ${this.versionApplied}`);
      if (counted && this.options.cacheFile) void this.writeCache(false);
      return;
    }
  }

  /** Applies every event after `pos` to `target`; null when the stream no longer reaches back to `pos`. */
  private async catchUp(target: IntelSet, pos: StorePosition): Promise<{ epoch: string | null; version: number; lastId: string } | null> {
    if (pos.epoch === null) return { epoch: null, version: 0, lastId: '0-0' };
    let version = pos.version;
    let lastId = streamId(pos.epoch, pos.version);
    let count = CATCH_UP_CHANGES;
    for (;;) {
      const entries = (await this.main.xrange(this.keys.stream, `(${lastId}`, '+', 'COUNT', count)) as StreamEntries;
      if (entries.length === 0) return { epoch: pos.epoch, version, lastId };
      let changes = 0;
      for (const [id, fields] of entries) {
        const sid = parseStreamId(id);
        if (sid === null || sid.epoch !== pos.epoch) {
          // Not ours (or a newer epoch: the follow loop sees that through the meta hash and resyncs again).
          this.countMalformed(`stream entry ${id} is not an event of epoch ${pos.epoch}`);
        } else if (sid.version > version) {
          const event = parseEvent(fields);
          if (firstVersionOf(event, sid.version) > version + 1) return null;
          changes += this.applyEvent(target, event, sid.epoch, sid.version, version);
          version = sid.version;
        }
        lastId = id;
      }
      count = adaptCount(CATCH_UP_CHANGES, entries.length, changes);
      // A long catch-up runs while the sensor matches packets.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.closed) return null;
    }
  }

  /**
   * Makes our part of the live set equal to `staging`. The comparison runs in slices while the sensor keeps
   * matching; the differences are then applied in one synchronous step (no packet is matched between the old
   * content and the new). If the set changed meanwhile (expiry, another writer of the set), the whole reconcile
   * runs synchronously instead.
   */
  private async swapIn(staging: IntelSet): Promise<ReconcileResult> {
    this.planning = true;
    try {
      const plan = await planReconcile(this.set, preparedEntriesOf(staging), this.scope);
      return plan.apply() ?? reconcile(this.set, preparedEntriesOf(staging), this.scope);
    } finally {
      this.planning = false;
      this.scheduleExpiry();
    }
  }

  private holdsScopedEntries(): boolean {
    if (this.scopeIsAll) return this.set.size > 0;
    let found = false;
    forEachLiveHandle(this.set, (h) => {
      if (!found && this.scope(this.set.sourceOf(h))) found = true;
    });
    return found;
  }

  private async loadCache(file: string): Promise<CacheLoadResult> {
    const direct = !this.holdsScopedEntries();
    const target = direct ? this.set : new IntelSet({ clock: () => this.set.now() });
    const r = await loadIntelCache(file, target, this.set.now());
    if (!direct) await this.swapIn(target);
    this.epoch = r.epoch;
    this.versionApplied = r.version;
    this.lastId = r.streamId;
    this.lastSyncedAt = r.syncedAt;
    this.state = 'stale';
    this.complete = true;
    this.cacheWrittenAt = r.syncedAt;
    this.cacheEntries = r.entries;
    this.cacheWrittenFor = `${r.epoch}:${r.version}`;
    this.malformed += r.malformed;
    if (r.malformed > 0) this.metrics?.malformed.inc(r.malformed);
    this.scheduleExpiry();
    return r;
  }

  // ---------------------------------------------------------------------------------------------- timers

  /** Keeps one timer at the set's next expiry: entries leave on time whether or not Redis answers. */
  private scheduleExpiry(): void {
    if (this.options.expire === false || this.closed) return;
    const next = this.set.nextExpiry();
    if (next === 0) return;
    const at = next * 1000;
    if (this.expiryTimer !== null && this.expiryAt <= at) return;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryAt = at;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      // Expired entries never match anyway: removing them can wait for the end of a reconcile plan (which
      // schedules again).
      if (this.planning) return;
      this.set.expire();
      this.scheduleExpiry();
    }, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + 10));
    this.expiryTimer.unref();
  }

  private staleSeconds(): number | null {
    if (this.state === 'live') return 0;
    return this.lastSyncedAt === null ? null : Math.max(0, (Date.now() - this.lastSyncedAt) / 1000);
  }

  private async writeCache(force: boolean, final = false): Promise<void> {
    const file = this.options.cacheFile;
    if (!file) return;
    if (this.cacheWriting !== null) {
      if (!force && !final) return;
      // Asked for explicitly: after the write in progress, write again (the set may have moved since it began).
      while (this.cacheWriting !== null) await this.cacheWriting;
    }
    if (!this.complete || (this.closed && !final)) return;
    const position = `${this.epoch}:${this.versionApplied}`;
    if (!force && this.cacheWrittenFor === position) return;
    const journal = new CacheJournal();
    this.journal = journal;
    const run = (async () => {
      try {
        const entries = await writeIntelCache(file, this.set, this.scope, journal, () => ({
          epoch: this.epoch,
          version: this.versionApplied,
          streamId: this.lastId,
          syncedAt: this.state === 'live' ? Date.now() : (this.lastSyncedAt ?? Date.now()),
        }));
        if (entries !== null) {
          this.cacheWrittenAt = Date.now();
          this.cacheEntries = entries;
          this.cacheError = null;
          this.cacheWrittenFor = position;
        }
      } catch (err) {
        this.cacheError = (err as Error).message;
        this.log?.warn({ event: 'intel-cache-write', file, error: this.cacheError }, `intel cache ${file} not written: ${this.cacheError}`);
      } finally {
        this.journal = null;
        this.cacheWriting = null;
      }
    })();
    this.cacheWriting = run;
    await run;
  }

  private notifyWaiters(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.versionApplied >= w.version) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else {
        keep.push(w);
      }
    }
    this.waiters = keep;
  }
}

/** The entries of a (staging) set as PreparedEntry values, for reconcile(). */
function* preparedEntriesOf(set: IntelSet): Generator<PreparedEntry> {
  const handles: number[] = [];
  forEachLiveHandle(set, (h) => handles.push(h));
  for (const h of handles) {
    const text = set.indicatorOf(h);
    const id = set.idOf(h);
    const action = set.actionOf(h);
    const source = set.sourceOf(h);
    const reason = set.reasonOf(h);
    const tags = set.tagsOf(h);
    yield {
      indicator: parseIndicator(text),
      explicitId: id === text ? null : id,
      action,
      actionCode: actionCode(action),
      expiresAt: set.expiresAt(h),
      source,
      reason,
      tags,
      profileSlot: profileSlot(source, reason, tags),
    };
  }
}

/**
 * Events to ask for next, so that a read holds about `changes` changes: single events need the full count, batch
 * events (hundreds of changes each) far fewer.
 */
function adaptCount(target: number, events: number, changes: number): number {
  if (events === 0 || changes <= events) return target;
  return Math.max(1, Math.min(target, Math.floor((target * events) / changes)));
}

/** The identity field a record names (source and explicit id or indicator), or null when it names none. */
function identityOfRecord(record: string): string | null {
  const t0 = record.indexOf('\t');
  const t1 = t0 < 0 ? -1 : record.indexOf('\t', t0 + 1);
  const t2 = t1 < 0 ? -1 : record.indexOf('\t', t1 + 1);
  if (t0 <= 0 || t2 < 0) return null;
  const id = t1 > t0 + 1 ? record.slice(t0 + 1, t1) : record.slice(t1 + 1, t2);
  return id === '' ? null : identityField(record.slice(0, t0), id);
}
