/**
 * Record encoding (schema version 1). One entry is one hash field "SOURCE<TAB>ID" whose value is eleven fields
 * separated by tabs:
 *
 *   SOURCE  EXPLICIT_ID  INDICATOR  ACTION  EXPIRES  REASON  TAGS  CREATED_MS  UPDATED_MS  ACTOR  VERSION
 *
 *   SOURCE, EXPLICIT_ID   the identity again ('' for a default id, which is the indicator text), so a snapshot
 *                         reads values only (HVALS: half the reply elements of HGETALL)
 *   INDICATOR   canonical indicator text
 *   ACTION      block | monitor | allow
 *   EXPIRES     epoch seconds, 0 = never
 *   TAGS        sorted, joined by U+001F (the unit separator)
 *   CREATED_MS, UPDATED_MS   Redis server time of the first and the last write (ms)
 *   ACTOR       who wrote it last (CLI user, API client)
 *   VERSION     the store version of the last write
 *
 * Tabs and U+001F cannot occur inside any field: the entry grammar refuses control characters everywhere. The first
 * seven fields are the entry's content; the write script compares them to skip writes that change nothing. A flat
 * string rather than a hash per entry: one field per entry keeps Redis memory low, and the snapshot reader splits
 * a string faster than it would walk a nested reply.
 */
import { textAt } from '../../util/text-at.js';
import { actionCode, type IntelAction } from '../action.js';
import { profileSlot } from '../interner.js';
import { MAX_ID_LENGTH, MAX_REASON_LENGTH, MAX_SOURCE_LENGTH, MAX_TAG_LENGTH, MAX_TAGS, type PreparedEntry } from '../entry.js';
import { IntelEntryError } from '../errors.js';
import { EPOCH_THRESHOLD, MAX_EPOCH_SECONDS } from '../expiry.js';
import { parseIndicator, type IndicatorKind, type ParsedIndicator } from '../indicator.js';
import { MalformedRecordError } from './errors.js';
import { identityField } from './schema.js';

export const TAG_SEPARATOR = '\u001f';
/** Longest record value decoded; anything longer is malformed (real ones are well under 10 kB). */
export const MAX_RECORD_LENGTH = 16 * 1024;
export const MAX_ACTOR_LENGTH = 128;

/** An entry as stored in Redis, readable (API, CLI list and export). */
export interface StoredIntelEntry {
  readonly source: string;
  readonly id: string;
  readonly indicator: string;
  readonly kind: IndicatorKind;
  readonly action: IntelAction;
  /** Epoch seconds, null for never. */
  readonly expiresAt: number | null;
  readonly reason: string;
  readonly tags: readonly string[];
  /** Redis server time of the first write, ms. */
  readonly createdAt: number;
  /** Redis server time of the last write, ms. */
  readonly updatedAt: number;
  readonly actor: string;
  /** Store version of the last write. */
  readonly version: number;
}

/** The identity field of a prepared entry. */
export function fieldOf(entry: PreparedEntry): string {
  return identityField(entry.source, entry.explicitId ?? entry.indicator.text);
}

/** The content part (first seven fields) of an entry's record. */
export function encodeContent(entry: PreparedEntry): string {
  return `${entry.source}\t${entry.explicitId ?? ''}\t${entry.indicator.text}\t${entry.action}\t${entry.expiresAt}\t${entry.reason}\t${entry.tags.join(TAG_SEPARATOR)}`;
}

/** A whole record value (the write script builds the same string in Lua; this one serves caches and tests). */
export function encodeRecord(entry: PreparedEntry, meta: { createdMs: number; updatedMs: number; actor: string; version: number }): string {
  return `${encodeContent(entry)}\t${meta.createdMs}\t${meta.updatedMs}\t${meta.actor}\t${meta.version}`;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Checks an actor name (who is writing): non-empty, short, no control characters. Throws IntelEntryError. */
export function checkActor(actor: unknown): string {
  if (typeof actor !== 'string' || actor.trim() === '') throw new IntelEntryError('actor', 'missing', 'say who writes (a user or client name)');
  const a = actor.trim();
  if (a.length > MAX_ACTOR_LENGTH) throw new IntelEntryError('actor', `${a.length} characters long (at most ${MAX_ACTOR_LENGTH})`);
  if (CONTROL.test(a)) throw new IntelEntryError('actor', 'contains control characters');
  return a;
}

/**
 * Decodes a record into a validated entry (the sync hot path). `field` is the hash field it was stored under when
 * known (it must name the record's identity), null when the value was read alone (HVALS). Throws
 * MalformedRecordError naming what is wrong; never anything else, whatever the input. Accepts exactly what the
 * writer produces: the entry grammar's rules (prepareEntry) in their normalised form; anything else (untrimmed text,
 * unsorted tags, a non-canonical indicator) would give the entry another identity or content in the set than in
 * Redis, and is malformed.
 */
export function decodeEntry(field: string | null, value: string): PreparedEntry {
  return decodeWith(field, value, null);
}

/** Decodes a record for display. Throws MalformedRecordError. */
export function decodeStored(field: string | null, value: string): StoredIntelEntry {
  const meta: RecordMeta = { createdAt: 0, updatedAt: 0, actor: '', version: 0 };
  const entry = decodeWith(field, value, meta);
  return {
    source: entry.source,
    id: entry.explicitId ?? entry.indicator.text,
    indicator: entry.indicator.text,
    kind: entry.indicator.kind,
    action: entry.action,
    expiresAt: entry.expiresAt === 0 ? null : entry.expiresAt,
    reason: entry.reason,
    tags: entry.tags,
    ...meta,
  };
}

/** The version field of a record (-1 when unreadable). */
export function recordVersion(value: string): number {
  const tab = value.lastIndexOf('\t');
  const n = Number(value.slice(tab + 1));
  return tab >= 0 && Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

interface RecordMeta {
  createdAt: number;
  updatedAt: number;
  actor: string;
  version: number;
}

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
/** Decoded tag lists by their text: feeds reuse a handful of tag sets, so most records skip the split and checks. */
const tagCache = new Map<string, readonly string[]>();
const TAG_CACHE_LIMIT = 4096;

function decodeWith(field: unknown, value: unknown, meta: RecordMeta | null): PreparedEntry {
  if ((field !== null && typeof field !== 'string') || typeof value !== 'string') throw new MalformedRecordError('record field or value is not a string');
  // Only error messages quote the record: build that text only then.
  const where = { toString: (): string => (field === null ? echo(value) : echo(field as string)) };
  if (value.length > MAX_RECORD_LENGTH) throw new MalformedRecordError(`record ${where} is ${value.length} characters long (at most ${MAX_RECORD_LENGTH})`);
  // The ten tabs of the eleven record fields (indexOf beats a character loop by far in V8).
  const t0 = value.indexOf('\t');
  const t1 = value.indexOf('\t', t0 + 1);
  const t2 = value.indexOf('\t', t1 + 1);
  const t3 = value.indexOf('\t', t2 + 1);
  const t4 = value.indexOf('\t', t3 + 1);
  const t5 = value.indexOf('\t', t4 + 1);
  const t6 = value.indexOf('\t', t5 + 1);
  const t7 = value.indexOf('\t', t6 + 1);
  const t8 = value.indexOf('\t', t7 + 1);
  const t9 = value.indexOf('\t', t8 + 1);
  if (t0 <= 0 || t1 < 0 || t2 < 0 || t3 < 0 || t4 < 0 || t5 < 0 || t6 < 0 || t7 < 0 || t8 < 0 || t9 < 0 || value.indexOf('\t', t9 + 1) >= 0) {
    throw new MalformedRecordError(`record ${where} does not have 11 tab-separated fields`);
  }
  const action = actionAt(value, t2 + 1, t3);
  if (action === null) throw new MalformedRecordError(`action ${echo(value.slice(t2 + 1, t3))} of ${where} is not block, monitor or allow`);
  const expiresAt = expiryAt(value, t3 + 1, t4);
  if (expiresAt < 0) throw new MalformedRecordError(`expiry ${echo(value.slice(t3 + 1, t4))} of ${where} is not 0 or epoch seconds (${EPOCH_THRESHOLD}..${MAX_EPOCH_SECONDS})`);
  // Control characters are checked in what is kept: source, id, reason, tags; the indicator, action and expiry
  // grammars admit none, and the metadata fields are read only for display (decodeStored).
  const source = reuse(value, 0, t0);
  const explicitText = t1 === t0 + 1 ? '' : value.slice(t0 + 1, t1);
  const reason = reuse(value, t4 + 1, t5);
  if (source.length > MAX_SOURCE_LENGTH || !trimmed(source) || CONTROL.test(source)) throw new MalformedRecordError(`source ${echo(source)} is too long, not trimmed or holds control characters`);
  if (explicitText.length > MAX_ID_LENGTH || !trimmed(explicitText) || CONTROL.test(explicitText)) throw new MalformedRecordError(`id ${echo(explicitText)} is too long, not trimmed or holds control characters`);
  if (reason.length > MAX_REASON_LENGTH || !trimmed(reason) || CONTROL.test(reason)) throw new MalformedRecordError(`reason of ${where} is too long, not trimmed or holds control characters`);
  const tags = tagsOf(value, t5 + 1, t6);
  const text = value.slice(t1 + 1, t2);
  let indicator: ParsedIndicator;
  try {
    indicator = parseIndicator(text);
  } catch (err) {
    throw new MalformedRecordError(`record ${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (indicator.text !== text) throw new MalformedRecordError(`indicator ${echo(text)} is not in canonical form (${indicator.text})`);
  // An explicit id equal to the indicator text is the default id, written as ''.
  if (explicitText === text) throw new MalformedRecordError(`record ${where} spells its default id out`);
  const explicitId = explicitText === '' ? null : explicitText;
  if (field !== null) {
    // The hash field and the identity inside the record must agree (length first: no string built).
    const id = explicitId ?? text;
    if (field.length !== source.length + 1 + id.length || !field.startsWith(source) || field.charCodeAt(source.length) !== 9 || !field.endsWith(id)) {
      throw new MalformedRecordError(`field ${where} does not name the record's identity`);
    }
  }
  if (meta !== null) {
    meta.createdAt = wholeNumber(value.slice(t6 + 1, t7), 'created');
    meta.updatedAt = wholeNumber(value.slice(t7 + 1, t8), 'updated');
    meta.actor = value.slice(t8 + 1, t9);
    if (CONTROL.test(meta.actor)) throw new MalformedRecordError(`actor of ${where} holds control characters`);
    meta.version = wholeNumber(value.slice(t9 + 1), 'version');
  }
  return { indicator, explicitId, action, actionCode: actionCode(action), expiresAt, source, reason, tags, profileSlot: profileSlot(source, reason, tags) };
}

/**
 * value[from, to) as a string, reusing the string object of an earlier record with the same text when a small
 * fingerprint table has it: sources and reasons repeat across millions of records, and one string object is
 * hashed once by V8 however often the set's interner looks it up.
 */
function reuse(value: string, from: number, to: number): string {
  const n = to - from;
  if (n === 0) return '';
  const slot = (n * 31 + value.charCodeAt(from) * 7 + value.charCodeAt(to - 1) * 3 + value.charCodeAt(from + (n >> 1))) & (REUSE_SLOTS - 1);
  const known = reused[slot];
  if (known !== undefined && known.length === n && textAt(value, from, known)) return known;
  // (A slice may keep its record alive while it sits in the table: at most REUSE_SLOTS records. The set copies
  // what it keeps.)
  const text = value.slice(from, to);
  reused[slot] = text;
  return text;
}

const REUSE_SLOTS = 1024;
const reused: (string | undefined)[] = new Array<string | undefined>(REUSE_SLOTS);
const tagSlots: ({ text: string; tags: readonly string[] } | undefined)[] = new Array<{ text: string; tags: readonly string[] } | undefined>(REUSE_SLOTS);

function actionAt(value: string, from: number, to: number): IntelAction | null {
  const n = to - from;
  if (n === 5 && value.startsWith('block', from)) return 'block';
  if (n === 7 && value.startsWith('monitor', from)) return 'monitor';
  if (n === 5 && value.startsWith('allow', from)) return 'allow';
  return null;
}

/** Epoch seconds (0 = never) from the digits in value[from, to), or -1. */
function expiryAt(value: string, from: number, to: number): number {
  const n = to - from;
  if (n === 1) return value.charCodeAt(from) === 48 ? 0 : -1;
  if (n !== 10) return -1;
  let x = 0;
  for (let i = from; i < to; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (i === from && d === 0)) return -1;
    x = x * 10 + d;
  }
  return x >= EPOCH_THRESHOLD && x <= MAX_EPOCH_SECONDS ? x : -1;
}

function tagsOf(value: string, from: number, to: number): readonly string[] {
  if (from === to) return EMPTY_TAGS;
  // A data set has few tag sets: find this one by a fingerprint of its text (no substring, no hashing).
  const n = to - from;
  const slot = (n * 31 + value.charCodeAt(from) * 7 + value.charCodeAt(to - 1) * 3 + value.charCodeAt(from + (n >> 1))) & (REUSE_SLOTS - 1);
  const known = tagSlots[slot];
  if (known !== undefined && known.text.length === n && textAt(value, from, known.text)) return known.tags;
  const text = value.slice(from, to);
  let tags = tagCache.get(text);
  if (tags === undefined) {
    if (/[\x00-\x1e\x7f]/.test(text)) throw new MalformedRecordError(`tags ${echo(text)} hold control characters`);
    const list = text.split(TAG_SEPARATOR);
    if (list.length > MAX_TAGS) throw new MalformedRecordError(`${list.length} tags (at most ${MAX_TAGS})`);
    for (let i = 0; i < list.length; i++) {
      const tag = list[i]!;
      if (tag === '' || tag.length > MAX_TAG_LENGTH || !trimmed(tag)) throw new MalformedRecordError(`tag ${echo(tag)} is empty, too long or not trimmed`);
      if (i > 0 && !(list[i - 1]! < tag)) throw new MalformedRecordError('tags are not sorted and unique');
    }
    tags = Object.freeze(list);
    if (tagCache.size < TAG_CACHE_LIMIT) tagCache.set(text, tags);
  }
  tagSlots[slot] = { text, tags };
  return tags;
}

function trimmed(text: string): boolean {
  if (text.length === 0) return true;
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  // Fast accept of the usual printable ASCII ends; anything else is checked against String.prototype.trim.
  if (first > 32 && first < 127 && last > 32 && last < 127) return true;
  return text.trim() === text;
}

function wholeNumber(text: string, what: string): number {
  const n = Number(text);
  if (text === '' || !Number.isSafeInteger(n) || n < 0) throw new MalformedRecordError(`${what} ${echo(text)} is not a whole number`);
  return n;
}

function echo(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}
