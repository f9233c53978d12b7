/**
 * One call of the bulk upsert script (scripts.ts, BULK_UPSERT_LUA): its KEYS and ARGV for a batch of prepared
 * entries, and its reply read back in input order.
 *
 * The entries are sent grouped by record hash (a stable counting sort: entries of one identity keep their
 * order), so Redis reads each hash with one HMGET and writes it with one HSET; a group whose entries share one
 * expiry (an import: one TTL from one instant) says it once. The script hands out versions in the order sent.
 */
import type { PreparedEntry } from '../entry.js';
import { encodeContent } from './record-codec.js';
import { identityField, SCHEMA_VERSION, SHARD_COUNT, shardOfIdentity, type IntelKeys } from './schema.js';

export interface BulkCall {
  readonly keys: string[];
  readonly args: string[];
  /**
   * UTF-8 byte length of each argument where known (-1 elsewhere): worked out from the parts of fields and
   * contents, so the wire encoding need not flatten thousands of joined strings to measure them.
   */
  readonly byteLengths: Int32Array;
  /** sent[k] = input index of the k-th entry sent. */
  readonly sent: Uint32Array;
  /** The record content (first 7 fields) of each entry, in the order sent. */
  readonly contents: string[];
}

export interface BulkCallOptions {
  readonly actor: string;
  readonly address: string | undefined;
  /** Changes kept in the stream. */
  readonly maxLen: number;
  /** Changes per batch event at most. */
  readonly eventChanges: number;
}

/** Results of a call, in input order. */
export interface BulkCallResult {
  /** Per entry: 0 unchanged, 1 created, 2 updated. */
  readonly statuses: Uint8Array;
  /** Per entry: the version that wrote it (for an unchanged entry, of its last write). */
  readonly versions: number[];
  /** The epoch the changes were written in ('' when nothing changed). */
  readonly epoch: string;
  /** Version of the first change (0 when nothing changed); the changed entries follow in the order sent. */
  readonly first: number;
}

/** Imports repeat few sources: a linear look-up beats a Set for the usual handful (a Set past that). */
const FEW_SOURCES = 16;
/** Groups up to this size are checked for duplicates pairwise, bigger ones with a Set. */
const PAIRWISE = 32;

export function encodeBulkCall(keyNames: IntelKeys, entries: readonly PreparedEntry[], o: BulkCallOptions): BulkCall {
  const count = entries.length;
  const fields = new Array<string>(count);
  const shards = new Uint16Array(count);
  const perShard = new Uint32Array(SHARD_COUNT + 1);
  let sources: string[] = [];
  let manySources: Set<string> | null = null;
  let lastSource = '';
  for (let i = 0; i < count; i++) {
    const e = entries[i]!;
    const id = e.explicitId ?? e.indicator.text;
    const shard = shardOfIdentity(e.source, id);
    fields[i] = `${e.source}\t${id}`;
    shards[i] = shard;
    perShard[shard + 1]!++;
    if (e.source !== lastSource) {
      lastSource = e.source;
      if (manySources !== null) manySources.add(e.source);
      else if (!sources.includes(e.source)) {
        sources.push(e.source);
        if (sources.length > FEW_SOURCES) manySources = new Set(sources);
      }
    }
  }
  if (manySources !== null) sources = [...manySources];
  for (let h = 0; h < SHARD_COUNT; h++) perShard[h + 1]! += perShard[h]!;
  const sent = new Uint32Array(count);
  const next = perShard.slice(0, SHARD_COUNT);
  for (let i = 0; i < count; i++) sent[next[shards[i]!]!++] = i;

  const keys: string[] = [keyNames.meta, keyNames.stream, keyNames.expiry, keyNames.sources, keyNames.xind];
  const groups: string[] = [];
  const explicit: string[] = [];
  const contents = new Array<string>(count);
  const items: string[] = [];
  const itemBytes: number[] = [];
  const extra = new ExtraBytes();
  let dups = false;
  for (let h = 0; h < SHARD_COUNT; h++) {
    const from = perShard[h]!;
    const to = perShard[h + 1]!;
    if (from === to) continue;
    keys.push(keyNames.shards[h]!);
    // Duplicates of an identity share its shard: only a group can hold them.
    if (!dups) dups = hasDuplicates(entries, sent, from, to);
    const expiry = entries[sent[from]!]!.expiresAt;
    let common = true;
    for (let k = from; k < to; k++) {
      const e = entries[sent[k]!]!;
      const field = fields[sent[k]!]!;
      items.push(field);
      itemBytes.push(field.length + extra.of(e.source) + (e.explicitId === null ? 0 : extra.of(e.explicitId)));
    }
    for (let k = from; k < to; k++) {
      const e = entries[sent[k]!]!;
      const content = encodeContent(e);
      // Flattened once here (charCodeAt makes V8 do it in place): the wire text and the echo's comparisons
      // then copy and compare plain characters instead of walking the joined parts each time.
      content.charCodeAt(0);
      contents[k] = content;
      items.push(content);
      // The indicator, action and expiry are ASCII; the tags' separator is one byte.
      let more = extra.of(e.source) + extra.of(e.reason) + (e.explicitId === null ? 0 : extra.of(e.explicitId));
      for (const tag of e.tags) more += extra.of(tag);
      itemBytes.push(content.length + more);
      if (e.explicitId !== null) explicit.push(String(k + 1), e.indicator.text);
      if (e.expiresAt !== expiry) common = false;
    }
    groups.push(String(keys.length), String(to - from), common ? String(expiry) : '');
    if (!common) {
      for (let k = from; k < to; k++) {
        const at = String(entries[sent[k]!]!.expiresAt);
        items.push(at);
        itemBytes.push(at.length);
      }
    }
  }
  const args: string[] = [
    o.actor, String(o.maxLen), String(SCHEMA_VERSION), String(SHARD_COUNT), String(count), o.address ?? '',
    String(o.eventChanges), String(sources.length), String(explicit.length / 2), String(groups.length / 3), dups ? '1' : '0',
  ];
  for (const x of sources) args.push(x);
  for (const x of explicit) args.push(x);
  for (const x of groups) args.push(x);
  const byteLengths = new Int32Array(args.length + items.length).fill(-1);
  byteLengths.set(itemBytes, args.length);
  for (const x of items) args.push(x);
  return { keys, args, byteLengths, sent, contents };
}

/** The script's reply in input order; null when it is not a reply to this call. */
export function decodeBulkReply(call: BulkCall, reply: unknown): BulkCallResult | null {
  if (!Array.isArray(reply)) return null;
  const answered = typeof reply[0] === 'string' ? reply[0] : '';
  const count = call.sent.length;
  if (answered.length !== count) return null;
  const unchanged: unknown[] = Array.isArray(reply[2]) ? reply[2] : [];
  const first = Number(reply[1]);
  const statuses = new Uint8Array(count);
  const versions = new Array<number>(count);
  let version = first;
  let old = 0;
  for (let k = 0; k < count; k++) {
    const status = answered.charCodeAt(k) - 48;
    const i = call.sent[k]!;
    statuses[i] = status;
    versions[i] = status === 0 ? Number(unchanged[old++] ?? 0) : version++;
  }
  return { statuses, versions, epoch: typeof reply[3] === 'string' ? reply[3] : '', first };
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 bytes beyond one per UTF-16 unit, of the (flat, short) parts of fields and contents; repeats remembered. */
class ExtraBytes {
  private last = '';
  private lastExtra = 0;

  of(text: string): number {
    if (text === this.last) return this.lastExtra;
    const extra = NON_ASCII.test(text) ? Buffer.byteLength(text) - text.length : 0;
    this.last = text;
    this.lastExtra = extra;
    return extra;
  }
}

/** Whether two of entries[sent[from..to)] have the same identity (source, id). */
function hasDuplicates(entries: readonly PreparedEntry[], sent: Uint32Array, from: number, to: number): boolean {
  if (to - from > PAIRWISE) {
    const seen = new Set<string>();
    for (let k = from; k < to; k++) {
      const e = entries[sent[k]!]!;
      const field = identityField(e.source, e.explicitId ?? e.indicator.text);
      if (seen.has(field)) return true;
      seen.add(field);
    }
    return false;
  }
  for (let a = from + 1; a < to; a++) {
    const x = entries[sent[a]!]!;
    const xid = x.explicitId ?? x.indicator.text;
    for (let b = from; b < a; b++) {
      const y = entries[sent[b]!]!;
      if ((y.explicitId ?? y.indicator.text) === xid && y.source === x.source) return true;
    }
  }
  return false;
}
