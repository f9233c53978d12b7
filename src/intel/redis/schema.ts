/**
 * Redis schema of the fleet intel set (schema version 1). Every key shares one hash tag, `{PREFIX}`, so the Lua
 * scripts that write a record and its change event together touch a single Redis Cluster slot.
 *
 *   {P}:meta          hash    schema (1), shards (256), epoch (ms when this data set was created), version
 *   {P}:rec:N         hash    N = 0..255: one field per entry, "SOURCE<TAB>ID" -> record (record-codec.ts)
 *   {P}:expiry        zset    "SOURCE<TAB>ID" scored by expiry (epoch seconds), entries that expire only
 *   {P}:changes       stream  change events, ID "EPOCH-VERSION": one change each (single writes) or a batch of
 *                             consecutive changes ending at VERSION (bulk writes); trimmed by version (MINID ~)
 *   {P}:sources       set     every source ever written (finds default-id entries by indicator)
 *   {P}:xind          hash    indicator -> "SOURCE<TAB>ID" lines, for entries with an explicit id only
 *
 * The version counts changes: every add, update and remove increments it by one in the same script that writes
 * its stream event, so change versions are consecutive and a reader detects any gap (trimmed stream) exactly.
 * The epoch changes when the data set is re-created (FLUSHALL, deleted keys): readers holding another epoch
 * resynchronise. Stream IDs are EPOCH-VERSION, so one ID says both and IDs grow with the version.
 */
import { RedisOptionError } from './errors.js';

export const SCHEMA_VERSION = 1;
/** Record hashes. Fixed by the schema version: writers and readers must agree on where a field lives. */
export const SHARD_COUNT = 256;
export const DEFAULT_KEY_PREFIX = 'offpath:intel';
/**
 * Changes kept in the stream (approximately: whole events, MINID ~ by version). A reader away for longer than this
 * many changes resynchronises with a full snapshot, which is always correct, only heavier.
 */
export const DEFAULT_STREAM_MAX_LENGTH = 200_000;

export interface IntelKeys {
  readonly prefix: string;
  readonly meta: string;
  readonly stream: string;
  readonly expiry: string;
  readonly sources: string;
  readonly xind: string;
  /** `{P}:rec:N` for N = 0..SHARD_COUNT-1. */
  readonly shards: readonly string[];
}

const PREFIX_RE = /^[A-Za-z0-9:._-]{1,100}$/;

export function intelKeys(prefix: string = DEFAULT_KEY_PREFIX): IntelKeys {
  if (!PREFIX_RE.test(prefix)) {
    throw new RedisOptionError(`key prefix ${JSON.stringify(prefix.slice(0, 120))} is not usable`, 'use 1-100 characters among letters, digits and : . _ -');
  }
  const tag = `{${prefix}}`;
  return {
    prefix,
    meta: `${tag}:meta`,
    stream: `${tag}:changes`,
    expiry: `${tag}:expiry`,
    sources: `${tag}:sources`,
    xind: `${tag}:xind`,
    shards: Array.from({ length: SHARD_COUNT }, (_, n) => `${tag}:rec:${n}`),
  };
}

/** The hash field naming an entry: source and id joined by a tab (neither may contain control characters). */
export function identityField(source: string, id: string): string {
  return `${source}\t${id}`;
}

/** Splits an identity field; null when it is not one. */
export function splitIdentityField(field: string): { source: string; id: string } | null {
  const tab = field.indexOf('\t');
  if (tab <= 0 || tab === field.length - 1) return null;
  return { source: field.slice(0, tab), id: field.slice(tab + 1) };
}

/** Shard of an identity field: FNV-1a (32 bits) over its UTF-16 code units, modulo SHARD_COUNT. */
export function shardOf(field: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < field.length; i++) {
    h ^= field.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SHARD_COUNT;
}

/** shardOf(identityField(source, id)), without building the field first (bulk writes hash every entry). */
export function shardOfIdentity(source: string, id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < source.length; i++) {
    h ^= source.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= 9;
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SHARD_COUNT;
}

export function streamId(epoch: string, version: number): string {
  return `${epoch}-${version}`;
}

const STREAM_ID_RE = /^([0-9]{1,20})-([0-9]{1,16})$/;

/** EPOCH-VERSION of one of our events; null for any other ID. */
export function parseStreamId(id: string): { epoch: string; version: number } | null {
  const m = STREAM_ID_RE.exec(id);
  if (m === null) return null;
  const version = Number(m[2]);
  if (!Number.isSafeInteger(version)) return null;
  return { epoch: m[1]!, version };
}

/** Orders two stream IDs (ms-seq) numerically: negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
