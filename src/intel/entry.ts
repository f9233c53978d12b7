/**
 * Intel entry input and its validated, normalised form.
 *
 * Identity: an entry is identified by (source, id). The id defaults to the canonical indicator text, so the same
 * indicator from two feeds, or an analyst's allow of an address a feed blocks, are two entries that never
 * overwrite each other; removing one leaves the other. Upserting the same (source, id) again replaces the entry.
 * An explicit id equal to the canonical indicator text is the default id (and costs no memory).
 */
import { actionCode, parseAction, type IntelAction } from './action.js';
import { IntelEntryError } from './errors.js';
import { parseExpiry } from './expiry.js';
import { parseIndicator, type ParsedIndicator, type ParseIndicatorOptions } from './indicator.js';
import { detachString, profileSlot } from './interner.js';

export interface IntelEntryInput {
  /** Indicator text (see indicator.ts) or an already parsed indicator. */
  readonly indicator: string | ParsedIndicator;
  /** Stable id within the source; defaults to the canonical indicator text. */
  readonly id?: string | number | null;
  /** Default 'block'. */
  readonly action?: IntelAction | string | null;
  /** Absolute time or TTL, see expiry.ts; absent = never. */
  readonly expires?: string | number | null;
  /** Feed name or user; default 'manual'. */
  readonly source?: string | null;
  readonly reason?: string | null;
  /** Tag list, or one string with tags separated by ';' or '|'. */
  readonly tags?: readonly string[] | string | null;
}

/** What an entry's fields other than its indicator and its id decide. */
interface PreparedFields {
  readonly action: IntelAction;
  readonly actionCode: number;
  /** Epoch seconds, 0 = never. */
  readonly expiresAt: number;
  readonly source: string;
  readonly reason: string;
  /** Sorted, de-duplicated. */
  readonly tags: readonly string[];
  /**
   * The profile cache slot of (source, reason, tags) (interner.ts profileSlot), computed once for fields that many
   * entries share (a load's repeated line tails), so that each entry does not hash the three strings again.
   */
  readonly profileSlot: number;
}

export interface PreparedEntry extends PreparedFields {
  readonly indicator: ParsedIndicator;
  /** null = the default id (canonical indicator text). */
  readonly explicitId: string | null;
}

export interface PrepareOptions extends ParseIndicatorOptions {
  /** Anchor for TTLs (epoch seconds). */
  readonly nowSeconds: number;
  readonly defaultAction?: IntelAction;
  readonly defaultSource?: string;
  /** Normalised field texts already seen in this load (see PrepareMemo); its nowSeconds must be this one. */
  readonly memo?: PrepareMemo;
}

/**
 * The parsed form of the tag and expiry texts that repeat from line to line within one load: a feed has a few
 * tag lists and expiry texts, written out again on each of its million lines, and splitting, checking and
 * sorting tags or running the expiry grammar again each time cost 0.3 s of a 1 M-line CSV load (CPU profile).
 * Only texts that passed are remembered, so a bad field is reported on every line that has it. Bounded: texts of
 * at most MEMO_MAX_TEXT characters, at most `limit` per field, copied when kept (a line's text is a slice of its
 * read chunk, and keeping the slice would keep the chunk). Sources and reasons are not memoised: looking a fresh
 * string up in a Map (hashing it) cost as much as checking it.
 */
export class PrepareMemo {
  /** Tag text ('c2;botnet') -> tags. */
  readonly tags = new Map<string, readonly string[]>();
  /** Tag list (JSON lines) -> tags, by its elements joined with NUL (never in a valid tag): a list is not split on ';'. */
  readonly tagLists = new Map<string, readonly string[]>();
  /**
   * Frozen tag list -> tags, by identity: a reader that hands out the same frozen array for the same text
   * (PlainJsonLineReader) is answered without joining the list into a key. Frozen, so it cannot change later.
   */
  readonly frozenLists = new Map<readonly string[], readonly string[]>();
  /** Expiry text -> epoch seconds, for this memo's nowSeconds (a TTL depends on it). */
  readonly expires = new Map<string, number>();

  constructor(
    readonly nowSeconds: number,
    readonly limit = 4096,
  ) {}
}

/** Longest tag or expiry text a PrepareMemo keeps: a longer one is parsed each time. */
export const MEMO_MAX_TEXT = 256;

export const DEFAULT_SOURCE = 'manual';
export const MAX_ID_LENGTH = 256;
export const MAX_SOURCE_LENGTH = 128;
export const MAX_REASON_LENGTH = 1024;
export const MAX_TAG_LENGTH = 128;
export const MAX_TAGS = 64;

const TEXT_OK = 0;
const TEXT_CONTROL = 1;
const TEXT_LONE_SURROGATE = 2;

/**
 * Whether a text holds control characters (tabs, newlines, NUL, DEL) or an unpaired UTF-16 surrogate, in one
 * pass: two regular expressions per field, as before, cost 0.09 s of a 1 M-line CSV load.
 */
function textProblem(t: string): number {
  const n = t.length;
  // Control characters are reported first wherever they are, as the two checks were ordered before.
  let lone = false;
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return TEXT_CONTROL;
    if (c >= 0xd800 && c <= 0xdfff) {
      // A high surrogate followed by a low one is one code point; anything else cannot be encoded as UTF-8.
      if (c <= 0xdbff && i + 1 < n) {
        const d = t.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          i++;
          continue;
        }
      }
      lone = true;
    }
  }
  return lone ? TEXT_LONE_SURROGATE : TEXT_OK;
}

/** Validates and normalises one entry; throws IndicatorError or IntelEntryError. */
export function prepareEntry(input: IntelEntryInput, options: PrepareOptions): PreparedEntry {
  if (input === null || typeof input !== 'object') throw new IntelEntryError('entry', 'expected an object with an indicator field');
  // The indicator is checked first, so that a line with several bad fields is reported for its indicator.
  const indicator = prepareIndicator(input.indicator, options);
  return entryFromParts(indicator, prepareParts(input, options));
}

/**
 * Everything a prepared entry holds but its indicator: what the fields after the indicator decide. A loader keeps
 * the parts of a line's repeated tail (LineRestMemo) and combines them with each new indicator.
 */
export interface PreparedParts extends PreparedFields {
  /** The id as given (checked), or null when there is none: whether it is explicit depends on the indicator. */
  readonly id: string | null;
}

/** The indicator field of an entry, parsed; throws as prepareEntry does. */
export function prepareIndicator(raw: IntelEntryInput['indicator'] | undefined | null, options: PrepareOptions): ParsedIndicator {
  if (raw === undefined || raw === null || raw === '') throw new IntelEntryError('indicator', 'missing', 'every entry needs an indicator');
  return typeof raw === 'string' ? parseIndicator(raw, options) : checkParsed(raw);
}

/** The fields other than the indicator, checked and normalised; throws as prepareEntry does. */
export function prepareParts(input: Omit<IntelEntryInput, 'indicator'>, options: PrepareOptions): PreparedParts {
  const action = parseAction(input.action, options.defaultAction ?? 'block');
  const memo = options.memo;
  if (memo !== undefined && memo.nowSeconds !== options.nowSeconds) throw new Error('PrepareMemo used with another nowSeconds than its own');
  const expiresAt = memo === undefined ? parseExpiry(input.expires, options.nowSeconds) : memoExpiry(memo, input.expires);
  const source = text('source', input.source, MAX_SOURCE_LENGTH) || (options.defaultSource ?? DEFAULT_SOURCE);
  const reason = text('reason', input.reason, MAX_REASON_LENGTH);
  const tags = memo === undefined ? normaliseTags(input.tags) : memoTags(memo, input.tags);
  const id = prepareId(input.id);
  return { action, actionCode: actionCode(action), expiresAt, source, reason, tags, profileSlot: profileSlot(source, reason, tags), id };
}

/** An id field, checked: null when there is none (absent or empty). */
export function prepareId(value: IntelEntryInput['id'] | null): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  const id = text('id', value, MAX_ID_LENGTH);
  return id === '' ? null : id; // spaces only: no id, as an empty field
}

/** An entry from its parsed indicator and its parts; `id` replaces the parts' id (a line's own id field). */
export function entryFromParts(indicator: ParsedIndicator, parts: PreparedParts, id = parts.id): PreparedEntry {
  return {
    indicator,
    explicitId: id !== null && id !== indicator.text ? id : null,
    action: parts.action,
    actionCode: parts.actionCode,
    expiresAt: parts.expiresAt,
    source: parts.source,
    reason: parts.reason,
    tags: parts.tags,
    profileSlot: parts.profileSlot,
  };
}

function memoExpiry(memo: PrepareMemo, value: unknown): number {
  if (typeof value !== 'string') return parseExpiry(value, memo.nowSeconds);
  let at = memo.expires.get(value);
  if (at === undefined) {
    at = parseExpiry(value, memo.nowSeconds);
    if (memo.expires.size < memo.limit && value.length <= MEMO_MAX_TEXT) memo.expires.set(detachString(value), at);
  }
  return at;
}

function memoTags(memo: PrepareMemo, value: unknown): readonly string[] {
  let seen: Map<string, readonly string[]>;
  let key: string;
  if (typeof value === 'string') {
    seen = memo.tags;
    key = value;
  } else {
    const known = Array.isArray(value) ? memo.frozenLists.get(value) : undefined;
    if (known !== undefined) return known;
    key = tagListKey(value);
    if (key === '') return normaliseTags(value);
    seen = memo.tagLists;
  }
  let tags = seen.get(key);
  if (tags === undefined) {
    tags = normaliseTags(value);
    if (seen.size < memo.limit && key.length <= MEMO_MAX_TEXT) {
      // Frozen: the same list goes to every entry with this text.
      tags = Object.freeze(tags.map(detachString));
      seen.set(detachString(key), tags);
    }
  }
  // Only a list the memo keeps (so frozen itself) is shared by identity, and only for a caller's frozen array.
  if (seen === memo.tagLists && Object.isFrozen(tags) && memo.frozenLists.size < memo.limit && Object.isFrozen(value)) {
    memo.frozenLists.set(value as readonly string[], tags);
  }
  return tags;
}

/** Memo key of a short list of strings, or '' (not memoised: not a list, empty, long, or holding a non-string). */
function tagListKey(value: unknown): string {
  if (!Array.isArray(value) || value.length === 0 || value.length > 8) return '';
  let key = '';
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (typeof item !== 'string') return '';
    key = i === 0 ? item : `${key}\u0000${item}`;
  }
  return key;
}

function checkParsed(value: unknown): ParsedIndicator {
  if (typeof value === 'object' && value !== null && typeof (value as ParsedIndicator).text === 'string' && typeof (value as ParsedIndicator).kind === 'string') {
    return value as ParsedIndicator;
  }
  throw new IntelEntryError('indicator', 'expected an indicator string');
}

function text(field: string, value: unknown, max: number): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new IntelEntryError(field, `expected a string, got ${typeof value}`);
  const t = value.trim();
  if (t.length > max) throw new IntelEntryError(field, `${t.length} characters long (at most ${max})`);
  const problem = textProblem(t);
  if (problem === TEXT_CONTROL) throw new IntelEntryError(field, 'contains control characters (tabs, newlines, NUL...)');
  // A lone UTF-16 surrogate cannot be encoded as UTF-8: it would be stored mangled (Redis, files, logs).
  if (problem === TEXT_LONE_SURROGATE) throw new IntelEntryError(field, 'contains an unpaired UTF-16 surrogate (not valid Unicode text)');
  return t;
}

/** Tags: a list or a string split on ';' or '|'; trimmed, empties dropped, de-duplicated, sorted. */
export function normaliseTags(value: unknown): readonly string[] {
  if (value === undefined || value === null || value === '') return EMPTY_TAGS;
  let list: unknown[];
  if (typeof value === 'string') list = splitTags(value);
  else if (Array.isArray(value)) list = value;
  else throw new IntelEntryError('tags', `expected a list of strings or a ';'-separated string, got ${typeof value}`);
  const out: string[] = [];
  let ordered = true; // already sorted and unique: the common case, kept without a Set or a sort
  for (const item of list) {
    if (typeof item !== 'string') throw new IntelEntryError('tags', `expected strings, got ${typeof item}`);
    const tag = item.trim();
    if (tag === '') continue;
    if (tag.length > MAX_TAG_LENGTH) throw new IntelEntryError('tags', `a tag is ${tag.length} characters long (at most ${MAX_TAG_LENGTH})`);
    const problem = textProblem(tag);
    if (problem === TEXT_CONTROL) throw new IntelEntryError('tags', 'a tag contains control characters');
    if (problem === TEXT_LONE_SURROGATE) throw new IntelEntryError('tags', 'a tag contains an unpaired UTF-16 surrogate (not valid Unicode text)');
    if (out.length > 0 && !(out[out.length - 1]! < tag)) ordered = false;
    out.push(tag);
  }
  const tags = ordered ? out : [...new Set(out)].sort();
  if (tags.length > MAX_TAGS) throw new IntelEntryError('tags', `${tags.length} tags (at most ${MAX_TAGS})`);
  return tags.length === 0 ? EMPTY_TAGS : tags;
}

function splitTags(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 59 /* ; */ || c === 124 /* | */) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(start === 0 ? text : text.slice(start));
  return parts;
}

const EMPTY_TAGS: readonly string[] = Object.freeze([]);
