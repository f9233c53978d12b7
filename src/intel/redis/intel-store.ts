/**
 * RedisIntelStore: THE writer of the fleet intel set. The CLI (`offpath intel`) and the blocking API write through
 * it; sensors only read (intel-sync.ts). Every write runs one Lua script that writes the records, the expiry index
 * and the change events together (scripts.ts), so the stream never disagrees with the records: one entry and its
 * event for single writes, a batch of entries and batch events for bulk writes (upsertMany, writePrepared).
 *
 * Identity is (source, id) as in the in-memory set; id defaults to the canonical indicator text. Writing the same
 * content again changes nothing (no version step, no event), so retries after a timeout are harmless.
 */
import { DEFAULT_BREADTH_POLICY, overBroadReason, type BreadthPolicy } from '../breadth.js';
import type { IntelAction } from '../action.js';
import { prepareEntry, type IntelEntryInput, type PreparedEntry } from '../entry.js';
import { IndicatorError, IntelEntryError } from '../errors.js';
import { wallClockSeconds } from '../expiry.js';
import { parseIndicator, type IndicatorKind } from '../indicator.js';
import { OffpathError } from '../../util/errors.js';
import { connectionErrorExplainer, createRedis, describeRedis, type RedisClient, type RedisConnectionOptions } from './connection.js';
import { MalformedRecordError, RedisSchemaError, RedisUnavailableError } from './errors.js';
import { checkActor, decodeStored, encodeContent, fieldOf, type StoredIntelEntry } from './record-codec.js';
import {
  DEFAULT_STREAM_MAX_LENGTH, identityField, intelKeys, parseStreamId, SCHEMA_VERSION, SHARD_COUNT, shardOf, type IntelKeys,
} from './schema.js';
import { parseEvent } from './snapshot.js';
import type { WriteEcho } from './write-echo.js';
import { decodeBulkReply, encodeBulkCall } from './bulk-call.js';
import { bulkUpsertScript, removeScript, upsertScript, type LuaScript } from './scripts.js';

export interface RedisIntelStoreOptions {
  /** Default offpath:intel. */
  readonly keyPrefix?: string;
  /** Changes kept in the stream (trimmed by version, MINID ~). Default 200,000. */
  readonly streamMaxLength?: number;
  /** Host bits in CIDRs: 'reject' (default) or 'mask'. */
  readonly hostBits?: 'reject' | 'mask';
  /** Over-broad policy for block CIDRs; null turns it off. Default DEFAULT_BREADTH_POLICY. */
  readonly breadth?: BreadthPolicy | null;
  /** Entries per script call in upsertMany and writePrepared (default 2000: about 12 ms of Redis time a call). */
  readonly batchSize?: number;
  /** Changes per batch event written by upsertMany (default 500): bounds what a reader decodes at once. */
  readonly eventChanges?: number;
  /** Script calls in flight in upsertMany (default 4). */
  readonly concurrency?: number;
  /** Epoch seconds: anchors TTLs ("expires": "2h"). Default the wall clock. */
  readonly clock?: () => number;
  /** Bulk writes are offered here, for a RedisIntelSync of this process to apply without decoding them again. */
  readonly echo?: WriteEcho;
}

/** Who writes. `actor` is stored with the record and the event; `address` goes into the event only. */
export interface WriteMeta {
  readonly actor: string;
  readonly address?: string;
  /** Accept block CIDRs broader than the breadth policy (the explicit "force"). */
  readonly allowOverBroad?: boolean;
}

export interface UpsertResult {
  readonly source: string;
  readonly id: string;
  readonly indicator: string;
  /** The entry did not exist before. */
  readonly created: boolean;
  /** Something was written (false: same content already stored). */
  readonly changed: boolean;
  /** Version of the change that wrote the entry (for an unchanged entry, of its last write). */
  readonly version: number;
  readonly entry: StoredIntelEntry;
}

export type UpsertManyItem =
  | { readonly index: number; readonly ok: true; readonly created: boolean; readonly changed: boolean; readonly version: number; readonly source: string; readonly id: string; readonly indicator: string }
  | { readonly index: number; readonly ok: false; readonly error: OffpathError };

export interface UpsertManySummary {
  /** Inputs read. */
  total: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Inputs refused by validation (reported through onResult). */
  failed: number;
  /** Store version after the last batch (0 when nothing was written). */
  version: number;
}

/** Results of writePrepared, in input order. */
export interface BulkWriteResult {
  /** Per entry: 0 unchanged (the same content was stored), 1 created, 2 updated. */
  readonly statuses: Uint8Array;
  /** Per entry: the version that wrote it (for an unchanged entry, of its last write). */
  readonly versions: readonly number[];
  /** The highest of `versions` (0 for none). */
  readonly version: number;
}

export interface RemoveResult {
  /** The entry as it was, or null when there was none. */
  readonly removed: StoredIntelEntry | null;
  /** Version of the removal (0 when nothing was removed). */
  readonly version: number;
}

export interface ListQuery {
  /** From a previous page's nextCursor. */
  readonly cursor?: string | null;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  readonly kind?: IndicatorKind;
  readonly action?: IntelAction | readonly IntelAction[];
  readonly source?: string;
  readonly tag?: string;
  /** Entries expiring strictly before this time (epoch seconds); entries that never expire are left out. */
  readonly expiringBefore?: number;
}

export interface ListPage {
  readonly entries: StoredIntelEntry[];
  /** Null at the end. A page may hold fewer than `limit` entries (the work of one call is bounded). */
  readonly nextCursor: string | null;
  /** Records that could not be decoded, skipped on this page. */
  readonly malformed: number;
}

export interface StoreStatus {
  readonly epoch: string | null;
  readonly version: number;
  readonly entries: number;
  readonly expiring: number;
  readonly sources: string[];
  /** Events in the stream (a batch event carries many changes). */
  readonly streamLength: number;
  /** Oldest version still in the stream (a reader behind it needs a full resync); null when the stream is empty. */
  readonly oldestStreamVersion: number | null;
  readonly streamMaxLength: number;
  /** Record-hash keys holding something else than a hash (readers skip them and count them as malformed). */
  readonly badKeys: number;
}

export const DEFAULT_BATCH = 2000;
export const DEFAULT_EVENT_CHANGES = 500;
const DEFAULT_CONCURRENCY = 4;
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;
/** Records looked at by one list() call at most, so a filter that matches little still answers quickly. */
const LIST_BUDGET = 20_000;
const PURGE_BATCH = 500;

export class RedisIntelStore {
  readonly keys: IntelKeys;
  private readonly maxLen: number;
  private readonly hostBits: 'reject' | 'mask';
  private readonly breadth: BreadthPolicy | null;
  private readonly batchSize: number;
  private readonly eventChanges: number;
  private readonly concurrency: number;
  private readonly clock: () => number;
  private readonly echo: WriteEcho | null;
  private closed = false;
  private readonly explain: (err: unknown) => string;

  /** A store on an existing client; close() leaves the client open unless `ownsClient`. */
  constructor(
    readonly client: RedisClient,
    options: RedisIntelStoreOptions = {},
    private readonly ownsClient = false,
    private readonly where = 'Redis',
  ) {
    this.keys = intelKeys(options.keyPrefix);
    this.maxLen = options.streamMaxLength ?? DEFAULT_STREAM_MAX_LENGTH;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 1000) throw new RangeError('streamMaxLength must be a whole number >= 1000');
    this.hostBits = options.hostBits ?? 'reject';
    this.breadth = options.breadth === undefined ? DEFAULT_BREADTH_POLICY : options.breadth;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError('batchSize must be a whole number >= 1');
    this.eventChanges = options.eventChanges ?? DEFAULT_EVENT_CHANGES;
    if (!Number.isInteger(this.eventChanges) || this.eventChanges < 1 || this.eventChanges > 10_000) throw new RangeError('eventChanges must be a whole number from 1 to 10000');
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.clock = options.clock ?? wallClockSeconds;
    this.echo = options.echo ?? null;
    this.explain = connectionErrorExplainer(client, where);
  }

  /** A store with its own connection (closed by close()). */
  static connect(connection: RedisConnectionOptions, options: RedisIntelStoreOptions = {}): RedisIntelStore {
    // Connection errors surface on the commands (see wrap()); the explainer's listener also keeps ioredis from
    // printing every failed reconnection.
    const client = createRedis(connection);
    return new RedisIntelStore(
      client,
      { keyPrefix: connection.keyPrefix, streamMaxLength: connection.streamMaxLength, ...options },
      true,
      describeRedis(connection),
    );
  }

  /** Validates an input as upsert() would (typed IndicatorError / IntelEntryError naming the field). */
  prepare(input: IntelEntryInput, meta: Pick<WriteMeta, 'allowOverBroad'> = {}): PreparedEntry {
    const now = this.clock();
    const entry = prepareEntry(input, { nowSeconds: now, hostBits: this.hostBits });
    if (this.breadth !== null && !meta.allowOverBroad) {
      const why = overBroadReason(entry.indicator, entry.action, this.breadth);
      if (why !== null) throw new IntelEntryError('indicator', why, 'pass force (allowOverBroad) if this range is really meant');
    }
    if (entry.expiresAt !== 0 && entry.expiresAt <= now) {
      throw new IntelEntryError('expires', 'is already in the past', 'give a future time or a TTL such as 7d');
    }
    return entry;
  }

  /** Adds or replaces the entry (source, id). */
  async upsert(input: IntelEntryInput, meta: WriteMeta): Promise<UpsertResult> {
    const actor = checkActor(meta.actor);
    const entry = this.prepare(input, meta);
    const [item] = await this.writeBatch([entry], actor, meta.address, true);
    const r = item!;
    return {
      source: entry.source,
      id: entry.explicitId ?? entry.indicator.text,
      indicator: entry.indicator.text,
      created: r.status === 1,
      changed: r.status !== 0,
      version: r.version,
      entry: decodeStored(fieldOf(entry), r.value),
    };
  }

  /**
   * Upserts many entries in batches (one script call per `batchSize` entries, `concurrency` calls in flight), reading
   * the input lazily: memory stays bounded whatever its length. Each call writes its changes as batch events of at
   * most `eventChanges` changes (scripts.ts, BULK_UPSERT_LUA); within a call, duplicates of one identity behave as
   * sequential upserts, and versions are handed out in the order the call sends its entries (grouped by record
   * hash: in input order for one identity, not across identities). Inputs may be IntelEntryInput (validated here) or
   * PreparedEntry (taken as already validated, e.g. from the intel file loader). `onResult` gets one result per
   * input, tagged with its index (0-based); results do not arrive in input order. A Redis failure rejects the
   * whole call (entries of completed batches stay written).
   */
  async upsertMany(
    inputs: AsyncIterable<IntelEntryInput | PreparedEntry> | Iterable<IntelEntryInput | PreparedEntry>,
    meta: WriteMeta,
    onResult?: (item: UpsertManyItem) => void,
  ): Promise<UpsertManySummary> {
    const actor = checkActor(meta.actor);
    const summary: UpsertManySummary = { total: 0, created: 0, updated: 0, unchanged: 0, failed: 0, version: 0 };
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    let batch: PreparedEntry[] = [];
    let indexes: number[] = [];
    const launch = (entries: PreparedEntry[], at: number[]): void => {
      const p = this.writeBulk(entries, actor, meta.address).then(
        ({ statuses, versions }) => {
          for (let i = 0; i < entries.length; i++) {
            const status = statuses[i]!;
            const v = versions[i]!;
            if (status === 1) summary.created++;
            else if (status === 2) summary.updated++;
            else summary.unchanged++;
            if (v > summary.version) summary.version = v;
            if (onResult !== undefined) {
              const e = entries[i]!;
              onResult({ index: at[i]!, ok: true, created: status === 1, changed: status !== 0, version: v, source: e.source, id: e.explicitId ?? e.indicator.text, indicator: e.indicator.text });
            }
          }
        },
        (err: unknown) => {
          failure ??= err;
        },
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    /** Takes one input; true when a batch went out (the caller then waits for room). */
    const take = (input: IntelEntryInput | PreparedEntry): boolean => {
      const index = summary.total++;
      let entry: PreparedEntry;
      try {
        entry = isPrepared(input) ? input : this.prepare(input, meta);
      } catch (err) {
        if (!(err instanceof OffpathError)) throw err;
        summary.failed++;
        onResult?.({ index, ok: false, error: err });
        return false;
      }
      batch.push(entry);
      indexes.push(index);
      if (batch.length < this.batchSize) return false;
      launch(batch, indexes);
      batch = [];
      indexes = [];
      return true;
    };
    // A synchronous input is read without a promise per item (for await would make one).
    if (Symbol.iterator in inputs) {
      for (const input of inputs) {
        if (!take(input)) continue;
        while (inFlight.size >= this.concurrency) await Promise.race(inFlight);
        if (failure !== null) break;
      }
    } else {
      for await (const input of inputs) {
        if (!take(input)) continue;
        while (inFlight.size >= this.concurrency) await Promise.race(inFlight);
        if (failure !== null) break;
      }
    }
    if (failure === null && batch.length > 0) launch(batch, indexes);
    await Promise.all(inFlight);
    if (failure !== null) {
      const written = summary.created + summary.updated + summary.unchanged;
      throw this.wrap(failure, `write failed after ${written} of ${summary.total} entries`);
    }
    return summary;
  }

  /**
   * Upserts entries already validated (prepare(), or the API's own validation), as upsertMany does, for a caller
   * that holds them in an array and bounds its size: every script call of the array is sent at once (pipelined),
   * and the results come back in input order without an object per entry. Rejects on a Redis failure (entries of
   * the calls that completed stay written).
   */
  async writePrepared(entries: readonly PreparedEntry[], meta: WriteMeta): Promise<BulkWriteResult> {
    const actor = checkActor(meta.actor);
    const statuses = new Uint8Array(entries.length);
    const versions = new Array<number>(entries.length);
    let version = 0;
    const calls: Promise<void>[] = [];
    for (let at = 0; at < entries.length; at += this.batchSize) {
      const slice = entries.slice(at, at + this.batchSize);
      calls.push(this.writeBulk(slice, actor, meta.address).then((written) => {
        statuses.set(written.statuses, at);
        for (let i = 0; i < slice.length; i++) {
          const v = written.versions[i]!;
          versions[at + i] = v;
          if (v > version) version = v;
        }
      }));
    }
    const settled = await Promise.allSettled(calls);
    for (const r of settled) if (r.status === 'rejected') throw this.wrap(r.reason, 'write intel');
    return { statuses, versions, version };
  }

  /** Removes (source, id). */
  async remove(source: string, id: string, meta: WriteMeta): Promise<RemoveResult> {
    const actor = checkActor(meta.actor);
    if (typeof source !== 'string' || source === '') throw new IntelEntryError('source', 'missing');
    if (typeof id !== 'string' || id === '') throw new IntelEntryError('id', 'missing');
    const field = identityField(source, id);
    const [r] = await this.removeFields([field], actor, meta.address, '');
    return { removed: r!.status === 1 ? this.decodeOrNull(field, r!.value) : null, version: r!.version };
  }

  /** Removes every entry (any source, any id) whose indicator is `indicator`. */
  async removeByIndicator(indicator: string, meta: WriteMeta): Promise<{ removed: StoredIntelEntry[]; version: number }> {
    const actor = checkActor(meta.actor);
    const fields = await this.fieldsOfIndicator(parseIndicator(indicator, { hostBits: this.hostBits }).text);
    if (fields.length === 0) return { removed: [], version: 0 };
    const results = await this.removeFields(fields, actor, meta.address, '');
    const removed: StoredIntelEntry[] = [];
    let version = 0;
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.status !== 1) continue;
      version = Math.max(version, r.version);
      const e = this.decodeOrNull(fields[i]!, r.value);
      if (e) removed.push(e);
    }
    return { removed, version };
  }

  /** Every entry (any source, any id) whose canonical indicator is `indicator`. */
  async findByIndicator(indicator: string): Promise<StoredIntelEntry[]> {
    const text = parseIndicator(indicator, { hostBits: this.hostBits }).text;
    const fields = await this.fieldsOfIndicator(text);
    if (fields.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const f of fields) pipeline.hget(this.keys.shards[shardOf(f)]!, f);
    const replies = await this.guard(pipeline.exec(), 'read entries');
    const out: StoredIntelEntry[] = [];
    replies?.forEach(([err, value], i) => {
      if (err) throw this.wrap(err, 'read entries');
      if (typeof value !== 'string') return;
      const e = this.decodeOrNull(fields[i]!, value);
      if (e && e.indicator === text) out.push(e);
    });
    return out;
  }

  async get(source: string, id: string): Promise<StoredIntelEntry | null> {
    const field = identityField(source, id);
    const value = await this.guard(this.client.hget(this.keys.shards[shardOf(field)]!, field), 'read an entry');
    return value === null ? null : this.decodeOrNull(field, value);
  }

  /** One page of entries, in no particular order; filters are applied while scanning. */
  async list(query: ListQuery = {}): Promise<ListPage> {
    const limit = Math.max(1, Math.min(LIST_MAX, Math.floor(query.limit ?? LIST_DEFAULT)));
    const start = query.cursor ? decodeListCursor(query.cursor) : { shard: 0, cursor: '0', skip: 0 };
    if (start === null) throw new IntelEntryError('cursor', 'is not a cursor of this list', 'pass back nextCursor unchanged');
    const actions = query.action === undefined ? null : new Set(typeof query.action === 'string' ? [query.action] : query.action);
    const accept = (e: StoredIntelEntry): boolean =>
      (query.kind === undefined || e.kind === query.kind) &&
      (actions === null || actions.has(e.action)) &&
      (query.source === undefined || e.source === query.source) &&
      (query.tag === undefined || e.tags.includes(query.tag)) &&
      (query.expiringBefore === undefined || (e.expiresAt !== null && e.expiresAt < query.expiringBefore));
    const entries: StoredIntelEntry[] = [];
    let { shard, cursor, skip } = start;
    let malformed = 0;
    let looked = 0;
    while (shard < SHARD_COUNT) {
      const [next, flat] = await this.guard(this.client.hscan(this.keys.shards[shard]!, cursor, 'COUNT', Math.max(limit, 100)), 'list entries');
      let matched = 0;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        let e: StoredIntelEntry;
        try {
          e = decodeStored(flat[i]!, flat[i + 1]!);
        } catch (err) {
          if (!(err instanceof MalformedRecordError)) throw err;
          malformed++;
          continue;
        }
        if (!accept(e)) continue;
        matched++;
        if (matched <= skip) continue;
        entries.push(e);
        // Cut inside an HSCAN batch: the cursor repeats this batch and skips what was returned.
        if (entries.length === limit) return { entries, nextCursor: encodeListCursor(shard, cursor, matched), malformed };
      }
      looked += flat.length / 2;
      skip = 0;
      if (next === '0') {
        shard++;
        cursor = '0';
      } else {
        cursor = next;
      }
      if (looked >= LIST_BUDGET && shard < SHARD_COUNT) return { entries, nextCursor: encodeListCursor(shard, cursor, 0), malformed };
    }
    return { entries, nextCursor: null, malformed };
  }

  /** Every entry, streamed shard by shard (export); malformed records are skipped and counted in `stats`. */
  async *scan(stats: { malformed: number } = { malformed: 0 }): AsyncGenerator<StoredIntelEntry> {
    for (const key of this.keys.shards) {
      let cursor = '0';
      do {
        const [next, flat] = await this.guard(this.client.hscan(key, cursor, 'COUNT', 1000), 'read entries');
        for (let i = 0; i + 1 < flat.length; i += 2) {
          try {
            yield decodeStored(flat[i]!, flat[i + 1]!);
          } catch (err) {
            if (!(err instanceof MalformedRecordError)) throw err;
            stats.malformed++;
          }
        }
        cursor = next;
      } while (cursor !== '0');
    }
  }

  /** Current store version (0 for an empty store). */
  async version(): Promise<number> {
    const v = await this.guard(this.client.hget(this.keys.meta, 'version'), 'read the version');
    return v === null ? 0 : Number(v);
  }

  async status(): Promise<StoreStatus> {
    const p = this.client.pipeline();
    p.hmget(this.keys.meta, 'schema', 'shards', 'epoch', 'version');
    p.zcard(this.keys.expiry);
    p.smembers(this.keys.sources);
    p.xlen(this.keys.stream);
    p.xrange(this.keys.stream, '-', '+', 'COUNT', 1);
    for (const key of this.keys.shards) p.hlen(key);
    const replies = await this.guard(p.exec(), 'read the status');
    const value = (i: number): unknown => {
      const [err, v] = replies![i]!;
      if (err) throw this.wrap(err, 'read the status');
      return v;
    };
    const [schema, shards, epoch, version] = value(0) as (string | null)[];
    if (epoch !== null && epoch !== undefined) this.checkSchema(schema ?? null, shards ?? null);
    let entries = 0;
    let badKeys = 0;
    for (let i = 0; i < SHARD_COUNT; i++) {
      const [err] = replies![5 + i]!;
      if (err && /WRONGTYPE/.test(err.message)) badKeys++;
      else entries += value(5 + i) as number;
    }
    const first = value(4) as [string, string[]][];
    const oldest = first.length > 0 ? parseStreamId(first[0]![0]) : null;
    // A batch event's ID is the version of its last change; its first change is n - 1 before.
    const event = first.length > 0 ? parseEvent(first[0]![1]) : null;
    const oldestVersion = oldest === null ? null : event !== null && event.op === 'b' ? Math.max(1, oldest.version - event.count + 1) : oldest.version;
    return {
      epoch: epoch ?? null,
      version: version ? Number(version) : 0,
      entries,
      expiring: value(1) as number,
      sources: (value(2) as string[]).sort(),
      streamLength: value(3) as number,
      oldestStreamVersion: oldestVersion,
      streamMaxLength: this.maxLen,
      badKeys,
    };
  }

  /**
   * Removes the entries that expired at or before `nowSeconds` (sensors already ignore them: this reclaims Redis
   * memory and tells readers with remove events). An entry renewed meanwhile is kept. Returns how many went.
   */
  async purgeExpired(meta: WriteMeta, nowSeconds: number = this.clock()): Promise<number> {
    const actor = checkActor(meta.actor);
    let removed = 0;
    for (;;) {
      const fields = await this.guard(this.client.zrangebyscore(this.keys.expiry, '-inf', nowSeconds, 'LIMIT', 0, PURGE_BATCH), 'list expired entries');
      if (fields.length === 0) return removed;
      const results = await this.removeFields(fields, actor, meta.address, String(nowSeconds));
      let n = 0;
      for (const r of results) if (r.status === 1) n++;
      removed += n;
      // Members without a record (a torn write from outside) would come back forever: drop them.
      if (n === 0) await this.guard(this.client.zrem(this.keys.expiry, ...fields), 'clean the expiry index');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) {
      try {
        await this.client.quit();
      } catch {
        this.client.disconnect();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------- internals

  private async writeBatch(entries: readonly PreparedEntry[], actor: string, address: string | undefined, values: boolean): Promise<{ status: number; version: number; value: string }[]> {
    const shardKeys: string[] = [];
    const keyIndex = new Map<number, number>();
    const args: (string | number)[] = [actor, this.maxLen, SCHEMA_VERSION, SHARD_COUNT, entries.length, address ?? '', values ? '1' : '0'];
    for (const e of entries) {
      const field = fieldOf(e);
      const shard = shardOf(field);
      let k = keyIndex.get(shard);
      if (k === undefined) {
        shardKeys.push(this.keys.shards[shard]!);
        k = 5 + shardKeys.length;
        keyIndex.set(shard, k);
      }
      args.push(k, field, encodeContent(e), e.expiresAt, e.source, e.indicator.text, e.explicitId === null ? '0' : '1');
    }
    return this.runScript(upsertScript, shardKeys, args, 'write intel');
  }

  /** One bulk script call (bulk-call.ts): results in input order; the changes are offered to the echo. */
  private async writeBulk(entries: readonly PreparedEntry[], actor: string, address: string | undefined): Promise<{ statuses: Uint8Array; versions: number[] }> {
    if (this.closed) throw new RedisUnavailableError('the intel store is closed');
    const call = encodeBulkCall(this.keys, entries, { actor, address, maxLen: this.maxLen, eventChanges: this.eventChanges });
    const reply = await this.guard(bulkUpsertScript.run(this.client, call.keys, call.args, call.byteLengths), 'write intel');
    const result = decodeBulkReply(call, reply);
    if (result === null) throw new RedisUnavailableError(`cannot write intel: ${this.where} gave an unexpected answer to a bulk write`);
    if (this.echo !== null && result.first > 0 && result.epoch !== '') {
      const changed: PreparedEntry[] = [];
      const contents: string[] = [];
      for (let k = 0; k < call.sent.length; k++) {
        const i = call.sent[k]!;
        if (result.statuses[i] === 0) continue;
        changed.push(entries[i]!);
        contents.push(call.contents[k]!);
      }
      this.echo.offer(result.epoch, result.first, changed, contents);
    }
    return result;
  }

  private async removeFields(fields: readonly string[], actor: string, address: string | undefined, expiredBy: string): Promise<{ status: number; version: number; value: string }[]> {
    const out: { status: number; version: number; value: string }[] = [];
    for (let at = 0; at < fields.length; at += PURGE_BATCH) {
      const shardKeys: string[] = [];
      const keyIndex = new Map<number, number>();
      const slice = fields.slice(at, at + PURGE_BATCH);
      const args: (string | number)[] = [actor, this.maxLen, SCHEMA_VERSION, SHARD_COUNT, slice.length, address ?? '', expiredBy];
      for (const field of slice) {
        const shard = shardOf(field);
        let k = keyIndex.get(shard);
        if (k === undefined) {
          shardKeys.push(this.keys.shards[shard]!);
          k = 5 + shardKeys.length;
          keyIndex.set(shard, k);
        }
        args.push(k, field);
      }
      out.push(...(await this.runScript(removeScript, shardKeys, args, 'remove intel')));
    }
    return out;
  }

  private async runScript(script: LuaScript, shardKeys: readonly string[], args: readonly (string | number)[], what: string): Promise<{ status: number; version: number; value: string }[]> {
    if (this.closed) throw new RedisUnavailableError('the intel store is closed');
    const keys = [this.keys.meta, this.keys.stream, this.keys.expiry, this.keys.sources, this.keys.xind, ...shardKeys];
    const reply = (await this.guard(script.run(this.client, keys, args), what)) as unknown[];
    const out: { status: number; version: number; value: string }[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      out.push({ status: Number(reply[i]), version: Number(reply[i + 1]), value: String(reply[i + 2] ?? '') });
    }
    return out;
  }

  /** Identity fields of every entry with this canonical indicator: default ids by source, explicit ids by index. */
  private async fieldsOfIndicator(text: string): Promise<string[]> {
    const [sources, explicit] = await this.guard(
      Promise.all([this.client.smembers(this.keys.sources), this.client.hget(this.keys.xind, text)]),
      'find entries by indicator',
    );
    const candidates = sources.map((s) => identityField(s, text));
    if (explicit) for (const line of explicit.split('\n')) if (line !== '' && !candidates.includes(line)) candidates.push(line);
    if (candidates.length === 0) return [];
    const p = this.client.pipeline();
    for (const f of candidates) p.hexists(this.keys.shards[shardOf(f)]!, f);
    const replies = await this.guard(p.exec(), 'find entries by indicator');
    return candidates.filter((_, i) => replies?.[i]?.[1] === 1);
  }

  private decodeOrNull(field: string, value: string): StoredIntelEntry | null {
    try {
      return decodeStored(field, value);
    } catch (err) {
      if (err instanceof MalformedRecordError) return null;
      throw err;
    }
  }

  private checkSchema(schema: string | null, shards: string | null): void {
    if (schema !== String(SCHEMA_VERSION) || shards !== String(SHARD_COUNT)) {
      throw new RedisSchemaError(`${this.where}: keys under ${this.keys.prefix} hold schema ${schema ?? '?'} with ${shards ?? '?'} shards; this offpath uses schema ${SCHEMA_VERSION} with ${SHARD_COUNT}`);
    }
  }

  private async guard<T>(promise: Promise<T>, what: string): Promise<T> {
    try {
      return await promise;
    } catch (err) {
      throw this.wrap(err, what);
    }
  }

  private wrap(err: unknown, what: string): OffpathError {
    if (err instanceof OffpathError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('OFFPATH_SCHEMA')) return new RedisSchemaError(`${this.where}: ${message.replace(/^.*OFFPATH_SCHEMA /, '')}`);
    return new RedisUnavailableError(`cannot ${what}: ${this.explain(err)}`);
  }
}

/** The input field an error is about ('indicator' for indicator grammar errors), or null (e.g. Redis errors). */
export function fieldOfError(err: unknown): string | null {
  if (err instanceof IntelEntryError) return err.field;
  if (err instanceof IndicatorError) return 'indicator';
  return null;
}

function isPrepared(input: IntelEntryInput | PreparedEntry): input is PreparedEntry {
  return typeof (input as PreparedEntry).actionCode === 'number' && typeof (input as PreparedEntry).indicator === 'object';
}

function encodeListCursor(shard: number, cursor: string, skip: number): string {
  return `${shard}.${cursor}.${skip}`;
}

function decodeListCursor(text: string): { shard: number; cursor: string; skip: number } | null {
  const m = /^([0-9]{1,3})\.([0-9]{1,20})\.([0-9]{1,4})$/.exec(text);
  if (!m) return null;
  const shard = Number(m[1]);
  if (shard >= SHARD_COUNT) return null;
  return { shard, cursor: m[2]!, skip: Number(m[3]) };
}
