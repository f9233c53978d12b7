/**
 * The fields of one JSON-lines intel entry, read without JSON.parse when the line has the plain shape that feeds
 * and our own tools write: one flat object whose keys come in the order of the CSV header (`indicator`, then any of
 * `action`, `expires`, `source`, `reason`, `tags`, `id`), every value a string without escapes or control
 * characters, `tags` a string or an array of such strings, spaces or tabs allowed between tokens. Other keys
 * (`first_seen`, `confidence`...) may come anywhere after `indicator`, with a string, number, boolean or null value:
 * the loader ignores them, as it does after JSON.parse.
 *
 * Why: JSON.parse was a third of a 1 M-line load (0.68 s); one compiled regular expression over the same lines
 * takes half that. A value that fits this shape is the same text JSON.parse would give, because a JSON string with
 * no backslash and no control character is exactly its characters. Any other line (other key orders, escapes,
 * numbers in the seven fields, nested values, repeated keys, anything that is not JSON) returns null, and the
 * caller parses it with JSON.parse as before, so every line gets JSON.parse's answer and its error messages.
 */
import { detachString } from './interner.js';

/** A JSON string with no escape and no control character; group 1 is its text. */
const STR = '"([^"\\\\\\x00-\\x1f]*)"';
/** Whitespace that JSON allows inside a line. */
const WS = '[ \\t]*';
/** A JSON array of such strings; group 1 is what lies between the brackets. */
const STR_LIST = `\\[${WS}((?:"[^"\\\\\\x00-\\x1f]*"(?:${WS},${WS}"[^"\\\\\\x00-\\x1f]*")*)?)${WS}\\]`;

/** A JSON number, per the grammar. */
const NUMBER = '-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?';
/**
 * A member the loader ignores: any key but the seven it reads (so that none can appear twice), with a scalar value.
 * Its key, like every string here, has no escape: an escaped key could spell one of the seven.
 */
const OTHER_MEMBERS = `(?:${WS},${WS}"(?!(?:indicator|action|expires|source|reason|tags|id)")[^"\\\\\\x00-\\x1f]*"${WS}:${WS}(?:"[^"\\\\\\x00-\\x1f]*"|${NUMBER}|true|false|null))*`;

const optional = (key: string, value: string): string => `(?:${WS},${WS}"${key}"${WS}:${WS}${value})?${OTHER_MEMBERS}`;

/** Groups: 1 indicator, 2 action, 3 expires, 4 source, 5 reason, 6 tags (list inner text), 7 tags (string), 8 id. */
const PLAIN_LINE = new RegExp(
  `^${WS}\\{${WS}"indicator"${WS}:${WS}${STR}${OTHER_MEMBERS}` +
    optional('action', STR) +
    optional('expires', STR) +
    optional('source', STR) +
    optional('reason', STR) +
    optional('tags', `(?:${STR_LIST}|${STR})`) +
    optional('id', STR) +
    `${WS}\\}${WS}$`,
);

/** Separator between the strings of a tag list, with whatever whitespace surrounds the comma. */
const LIST_SEPARATOR = /"[ \t]*,[ \t]*"/;
const HAS_BLANK = /[ \t]/;

export interface PlainJsonFields {
  indicator: string;
  action: string | undefined;
  expires: string | undefined;
  source: string | undefined;
  reason: string | undefined;
  tags: string | readonly string[] | undefined;
  id: string | undefined;
}

/** Lines of another shape a reader tries before it may give up on a file (see PlainJsonLineReader.enabled). */
const OTHER_LIMIT = 1024;
/** Tag lists kept per reader, at most this many. */
const CACHE_LIMIT = 4096;
/** Longer list texts are split every time: few feeds repeat them, and the cache's memory stays small. */
const CACHE_MAX_CHARS = 256;
/** The two ways a plain line starts: compact, and as Python's json.dumps writes it. */
const COMPACT_START = '{"indicator":"';
const SPACED_START = '{"indicator": "';

/**
 * Where the indicator's text starts in a line that begins like a plain line, or -1. Its end is plainIndicatorEnd.
 *
 * Such a line, with an indicator string that holds no escape or control character, is read by the expression
 * exactly when the text after that string's closing quote (its "rest") is one that the expression accepted on
 * another such line: the expression has no back-references, so what follows the indicator is matched alone.
 * Loaders use this to reuse what they made of a repeated rest (LineRestMemo).
 */
export function plainIndicatorStart(line: string): number {
  return line.startsWith(COMPACT_START) ? COMPACT_START.length : line.startsWith(SPACED_START) ? SPACED_START.length : -1;
}

/**
 * The index of the quote that closes the indicator string starting at `start` (from plainIndicatorStart), or -1
 * when an escape or a control character comes first.
 */
export function plainIndicatorEnd(line: string, start: number): number {
  for (let i = start; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 34 /* " */) return i;
    if (c === 92 /* \\ */ || c < 0x20) return -1;
  }
  return -1;
}

/** The two ways a plain line's id member starts when it is the line's last, with its value's opening quote. */
const COMPACT_ID = ',"id":"';
const SPACED_ID = ', "id": "';

/**
 * Where the id's text starts in a line that ends with its id member (`,"id":"ioc-17"}`, or as json.dumps spaces
 * it), after the indicator string that closes at `indicatorEnd`; or -1. The id's text runs to the line's last two
 * characters and holds no quote, escape or control character, so it is a plain string whatever it says: a loader
 * may remember the rest of the line without it (LineRestMemo), once the expression has read the same rest with an
 * id on another line.
 */
export function plainIdStart(line: string, indicatorEnd: number): number {
  const n = line.length;
  if (line.charCodeAt(n - 1) !== 125 /* } */ || line.charCodeAt(n - 2) !== 34 /* " */) return -1;
  const open = line.lastIndexOf('"', n - 3);
  const keyLength = line.startsWith(COMPACT_ID, open + 1 - COMPACT_ID.length) ? COMPACT_ID.length
    : line.startsWith(SPACED_ID, open + 1 - SPACED_ID.length) ? SPACED_ID.length : 0;
  if (keyLength === 0 || open + 1 - keyLength <= indicatorEnd) return -1;
  for (let i = open + 1; i < n - 2; i++) {
    const c = line.charCodeAt(i);
    if (c === 92 /* \\ */ || c < 0x20) return -1;
  }
  return open + 1;
}

/** Reads plain-shaped lines (see above); one per load, for its cache of tag lists. */
export class PlainJsonLineReader {
  private readonly lists = new Map<string, readonly string[]>();
  private plain = 0;
  private other = 0;
  /**
   * False once most lines have proved to have another shape (an extra key on each, say): the expression, which
   * fails only near such a line's end, would then cost a third more than JSON.parse for nothing.
   */
  enabled = true;

  /** The entry's fields when `line` has the plain shape, else null (parse it with JSON.parse). */
  read(line: string): PlainJsonFields | null {
    if (!this.enabled) return null;
    const m = PLAIN_LINE.exec(line);
    if (m === null) {
      if (++this.other > OTHER_LIMIT && this.other > this.plain) this.enabled = false;
      return null;
    }
    this.plain++;
    const list = m[6];
    return {
      indicator: m[1]!,
      action: m[2],
      expires: m[3],
      source: m[4],
      reason: m[5],
      tags: list !== undefined ? this.list(list) : m[7],
      id: m[8],
    };
  }

  /**
   * The strings of a list's inner text (`"a","b"`), the same frozen array for the same text. The key is copied:
   * a slice of the line would keep the whole read chunk it came from alive.
   */
  private list(inner: string): readonly string[] {
    const known = this.lists.get(inner);
    if (known !== undefined) return known;
    const strings = splitList(inner);
    if (inner.length > CACHE_MAX_CHARS || this.lists.size >= CACHE_LIMIT) return strings;
    const kept = Object.freeze(strings.map(detachString));
    this.lists.set(detachString(inner), kept);
    return kept;
  }
}

/** `"a","b"` → ['a', 'b']: no value holds a quote, so a quote, a comma and a quote always separate two values. */
function splitList(inner: string): string[] {
  if (inner === '') return [];
  const body = inner.slice(1, -1);
  // Without a space or tab anywhere, every separator is exactly `","`, and a plain split is faster.
  return HAS_BLANK.test(body) ? body.split(LIST_SEPARATOR) : body.split('","');
}
