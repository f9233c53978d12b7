/**
 * Reading the intel set out of Redis: the meta hash (epoch, version), the record hashes in bounded windows, and
 * change events. Used by the sync client; nothing here changes Redis.
 *
 * Consistency of a snapshot: the position (EPOCH-VERSION) is read first, the record hashes after it, one window at
 * a time while writers continue. Each record may then be at any state between the position and the end of the
 * read; replaying every event after the position, in order, brings each one to its latest state (events carry the
 * whole record), so snapshot + catch-up equals Redis at the last event applied.
 */
import type { RedisClient } from './connection.js';
import { RedisSchemaError } from './errors.js';
import { SCHEMA_VERSION, SHARD_COUNT, type IntelKeys } from './schema.js';

export interface StorePosition {
  /** Null when Redis holds no intel set under the prefix (never written, or flushed). */
  readonly epoch: string | null;
  readonly version: number;
}

/** Shards fetched per round trip: bounds the reply bytes held at once (~ window x shard size). */
export const DEFAULT_SNAPSHOT_WINDOW = 8;
/** Records aimed at per round trip (the window shrinks for big shards). */
const WINDOW_RECORDS = 32_768;
/** Records decoded between two yields to the event loop. */
const YIELD_EVERY = 4096;

export async function readPosition(client: RedisClient, keys: IntelKeys): Promise<StorePosition> {
  const [schema, shards, epoch, version] = await client.hmget(keys.meta, 'schema', 'shards', 'epoch', 'version');
  if (epoch === null || epoch === undefined) return { epoch: null, version: 0 };
  if (schema !== String(SCHEMA_VERSION) || shards !== String(SHARD_COUNT)) {
    throw new RedisSchemaError(`keys under ${keys.prefix} hold schema ${schema ?? '?'} with ${shards ?? '?'} shards; this offpath reads schema ${SCHEMA_VERSION} with ${SHARD_COUNT}`);
  }
  const v = Number(version ?? 0);
  return { epoch, version: Number.isSafeInteger(v) && v >= 0 ? v : 0 };
}

/**
 * Calls `onRecord(value)` for every record (values only, HVALS: a record names its own identity), fetching `window`
 * record hashes per round trip; the next window
 * is requested before the current one is decoded, so Redis and the decoder work at the same time. A key that is
 * not a hash (WRONGTYPE) is reported through `onBadKey` and skipped. `onWindow(shardsDone)` follows each window.
 */
export async function readRecords(
  client: RedisClient,
  keys: IntelKeys,
  onRecord: (value: string) => void,
  onBadKey: (key: string, message: string) => void,
  window = DEFAULT_SNAPSHOT_WINDOW,
  onWindow?: (shardsDone: number) => void,
): Promise<void> {
  const fetch = (at: number, count: number): Promise<[Error | null, unknown][] | null> => {
    const pipeline = client.pipeline();
    for (const key of keys.shards.slice(at, at + count)) pipeline.hvals(key);
    return pipeline.exec();
  };
  let size = window;
  let pending = fetch(0, size);
  let sinceYield = 0;
  for (let at = 0; at < SHARD_COUNT;) {
    const replies = await pending;
    if (replies === null) throw new Error('pipeline aborted');
    const next = at + replies.length;
    // Big shards (millions of records) would make a window's replies tens of MB: size the next window to about
    // WINDOW_RECORDS records, so the garbage of one window stays in the young generation.
    let records = 0;
    for (const [, reply] of replies) if (Array.isArray(reply)) records += reply.length;
    const perShard = records / Math.max(1, replies.length);
    size = Math.max(1, Math.min(window, Math.floor(WINDOW_RECORDS / Math.max(1, perShard))));
    if (next < SHARD_COUNT) {
      pending = fetch(next, size);
      pending.catch(() => undefined); // awaited on the next turn; a failure there is reported there
    }
    for (let i = 0; i < replies.length; i++) {
      const [err, reply] = replies[i]!;
      if (err) {
        if (/WRONGTYPE/.test(err.message)) {
          onBadKey(keys.shards[at + i]!, err.message);
          continue;
        }
        throw err;
      }
      const values = reply as string[];
      for (let j = 0; j < values.length; j++) onRecord(values[j]!);
      // A resync runs while the sensor matches packets: never hold the thread for more than a slice of records.
      sinceYield += values.length;
      if (sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    at = next;
    onWindow?.(at);
  }
}

/** One change (an upsert or a remove of one entry), or null when it lacks what every event has. */
export interface SingleChangeEvent {
  readonly op: 'u' | 'r';
  readonly field: string;
  /** Record value for 'u'. */
  readonly record: string;
  /** Redis time of the write (ms), NaN when absent. */
  readonly writtenMs: number;
}

/**
 * A batch event (bulk writes): `count` consecutive changes, the last of which has the event ID's version. `changes`
 * holds them one per line, "u<TAB>RECORD" or "r<TAB>SOURCE<TAB>ID" (records and identities never hold a newline).
 */
export interface BatchChangeEvent {
  readonly op: 'b';
  readonly count: number;
  readonly changes: string;
  readonly writtenMs: number;
}

export type ChangeEvent = SingleChangeEvent | BatchChangeEvent;

/** Most changes one batch event may claim (writers use far fewer): a bigger count is malformed. */
export const MAX_BATCH_EVENT_CHANGES = 100_000;

export function parseEvent(fields: unknown): ChangeEvent | null {
  if (!Array.isArray(fields)) return null;
  let op: string | undefined;
  let field: string | undefined;
  let record = '';
  let count = Number.NaN;
  let changes: string | undefined;
  let writtenMs = Number.NaN;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (typeof value !== 'string') continue;
    if (name === 'o') op = value;
    else if (name === 'k') field = value;
    else if (name === 'r') record = value;
    else if (name === 'c') changes = value;
    else if (name === 'n') count = Number(value);
    else if (name === 't') writtenMs = Number(value);
  }
  if (op === 'b') {
    if (changes === undefined || changes === '' || !Number.isSafeInteger(count) || count < 1 || count > MAX_BATCH_EVENT_CHANGES) return null;
    return { op, count, changes, writtenMs };
  }
  if ((op !== 'u' && op !== 'r') || field === undefined || (op === 'u' && record === '')) return null;
  return { op, field, record, writtenMs };
}

/** Version of the first change an event carries (events of one change: its own version). */
export function firstVersionOf(event: ChangeEvent | null, version: number): number {
  return event !== null && event.op === 'b' ? version - event.count + 1 : version;
}

export type StreamEntries = [id: string, fields: string[]][];
