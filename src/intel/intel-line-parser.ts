/**
 * The parsing half of an intel file load: text lines in, checked entries and line errors out (ParsedLineSink).
 * Formats are described in intel-file.ts. It holds no IntelSet, so it runs where the set is not: in the load's
 * worker thread (worker-load.ts) or in line with the set (IntelLineLoader).
 */
import { DEFAULT_BREADTH_POLICY, overBroadReason, type BreadthPolicy } from './breadth.js';
import { splitCsvLine } from './csv.js';
import type { IntelAction } from './action.js';
import {
  entryFromParts, PrepareMemo, prepareId, prepareIndicator, prepareParts, type IntelEntryInput, type PreparedEntry, type PreparedParts, type PrepareOptions,
} from './entry.js';
import { IntelEntryError, IntelFileError } from './errors.js';
import { PlainJsonLineReader, plainIdStart, plainIndicatorEnd, plainIndicatorStart } from './json-line.js';
import { LineRestMemo } from './line-rest-memo.js';
import { DEFAULT_MAX_LINE_LENGTH, type LineSink } from './line-reader.js';
import { OffpathError } from '../util/errors.js';

export type IntelFileFormat = 'plain' | 'csv' | 'jsonl';

/** What parsing needs of a load's options (all structured-cloneable: they cross to the worker). */
export interface IntelParseOptions {
  /** Default 'auto' (detect from content). */
  readonly format?: IntelFileFormat | 'auto';
  /** Source of entries whose line names none. Default: the file's base name. */
  readonly source?: string;
  /** Action of entries whose line names none. Default 'block'. */
  readonly defaultAction?: IntelAction;
  /** Over-broad policy; null disables it. Default DEFAULT_BREADTH_POLICY. */
  readonly breadth?: BreadthPolicy | null;
  /** Load over-broad CIDRs anyway (the explicit "force"). */
  readonly allowOverBroad?: boolean;
  /** Host bits in CIDRs: 'reject' (default) or 'mask'. */
  readonly hostBits?: 'reject' | 'mask';
  /** Longest line accepted, in characters. Default 64 KiB. */
  readonly maxLineLength?: number;
}

/** The parse options of a wider options object, and nothing else (so that they can cross to a worker). */
export function parseOptionsOf(options: IntelParseOptions): IntelParseOptions {
  return {
    format: options.format,
    source: options.source,
    defaultAction: options.defaultAction,
    breadth: options.breadth,
    allowOverBroad: options.allowOverBroad,
    hostBits: options.hostBits,
    maxLineLength: options.maxLineLength,
  };
}

/** Where a parser sends what it made of each line. */
export interface ParsedLineSink {
  /** A loadable entry (checked, not over-broad, not expired); `charsSeen`: characters read through its line. */
  entry(entry: PreparedEntry, lineNumber: number, charsSeen: number): void;
  /** A refused line. */
  fail(lineNumber: number, code: string, message: string): void;
  /** End of input. */
  end?(): void;
}

const CSV_COLUMNS = ['indicator', 'action', 'expires', 'source', 'reason', 'tags', 'id'] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

/** Detects the format from the first significant line. */
export function detectIntelFormat(firstLine: string): IntelFileFormat {
  const text = firstLine.trim();
  if (text.startsWith('{')) return 'jsonl';
  if (text.includes(',')) {
    const fields = splitCsvLine(text.toLowerCase());
    if (Array.isArray(fields) && fields.includes('indicator')) return 'csv';
  }
  return 'plain';
}

/** Whether a line (as readLines gives it) is blank or a comment, which no format reads. */
export function isBlankOrComment(text: string): boolean {
  const first = text.charCodeAt(0);
  if (first === 35 /* # */) return true;
  if (text.length !== 0 && first !== 32 && first !== 9) return false;
  const trimmed = text.trim();
  return trimmed.length === 0 || trimmed.charCodeAt(0) === 35;
}

/** Line-by-line state machine: a LineSink for readLines that hands its results to a ParsedLineSink. */
export class IntelLineParser implements LineSink {
  /** The format, once detected (or forced). */
  format: IntelFileFormat | null;
  /** Entries already expired at load time (not passed on). */
  expired = 0;
  private columns: (CsvColumn | null)[] | null = null;
  /** Field index of each CSV column (-1 when absent, which reads as undefined). */
  private columnAt: Record<CsvColumn, number> | null = null;
  /** Whether the CSV header ends with the id column: line tails are then remembered without it (structuredLine). */
  private csvIdLast = false;
  /** Characters of input seen so far (about bytes for intel files), for the loader's size extrapolation. */
  private charsSeen = 0;
  private readonly prepareOptions: PrepareOptions;
  private readonly breadth: BreadthPolicy | null;
  private readonly plainJson = new PlainJsonLineReader();
  private readonly rests = new LineRestMemo();
  /** What a plain line's entry holds besides its indicator: the defaults. */
  private readonly plainParts: PreparedParts;

  /** `nowSeconds` anchors TTLs and the expired check; `name` labels header errors. */
  constructor(
    private readonly options: IntelParseOptions,
    private readonly nowSeconds: number,
    private readonly name: string,
    private readonly sink: ParsedLineSink,
  ) {
    this.format = options.format === undefined || options.format === 'auto' ? null : options.format;
    this.prepareOptions = {
      nowSeconds,
      hostBits: options.hostBits ?? 'reject',
      defaultAction: options.defaultAction ?? 'block',
      defaultSource: options.source ?? name,
      memo: new PrepareMemo(nowSeconds),
    };
    this.plainParts = prepareParts({}, this.prepareOptions);
    this.breadth = options.breadth === undefined ? DEFAULT_BREADTH_POLICY : options.breadth;
  }

  line(text: string, lineNumber: number): void {
    this.charsSeen += text.length + 1;
    if (isBlankOrComment(text)) return;
    if (this.format === null) this.format = detectIntelFormat(text);
    if (this.format === 'csv' && this.columns === null) {
      this.columns = this.parseHeader(text, lineNumber);
      return;
    }
    try {
      if (this.format === 'plain') {
        const indicator = plainIndicator(text);
        // A plain line is only an indicator: its other fields are this load's defaults, prepared once.
        if (indicator !== null) this.apply(entryFromParts(prepareIndicator(indicator, this.prepareOptions), this.plainParts), lineNumber);
        return;
      }
      this.structuredLine(text, lineNumber);
    } catch (err) {
      if (!(err instanceof OffpathError)) throw err;
      this.sink.fail(lineNumber, err.code, err.message);
    }
  }

  /**
   * A CSV or JSON line. When the format allows the line to be split exactly into its indicator and the tail after
   * it, and that tail was seen on a line that loaded, only the indicator is parsed (LineRestMemo).
   */
  private structuredLine(text: string, lineNumber: number): void {
    const options = this.prepareOptions;
    let indicatorText: string | null = null;
    let rest = '';
    /** The id's text, when the tail stops before it (a CSV id column last, a JSON line ending with its id). */
    let idText: string | null = null;
    if (this.rests.enabled) {
      if (this.format === 'csv') {
        // Fields after the first comma parse alike whatever an unquoted first field holds (splitCsvLine).
        const comma = this.columnAt!.indicator === 0 ? text.indexOf(',') : -1;
        if (comma >= 0 && text.lastIndexOf('"', comma) < 0) {
          if (!this.csvIdLast) {
            indicatorText = text.slice(0, comma).trim();
            rest = text.slice(comma);
          } else {
            // An id differs on every line, so the tail is what lies between the indicator and the id. Text after
            // the last comma that holds no quote is a whole unquoted field, whatever comes before it.
            const last = text.lastIndexOf(',');
            if (text.indexOf('"', last) < 0) {
              indicatorText = text.slice(0, comma).trim();
              rest = text.slice(comma, last);
              idText = text.slice(last + 1);
            }
          }
        }
      } else if (this.plainJson.enabled) {
        const start = plainIndicatorStart(text);
        const end = start > 0 ? plainIndicatorEnd(text, start) : -1;
        if (end > 0) {
          indicatorText = text.slice(start, end);
          // A line that ends with its id: the tail stops before the id's text, as in CSV.
          const id = plainIdStart(text, end);
          if (id < 0) {
            rest = text.slice(end + 1);
          } else {
            rest = text.slice(end + 1, id);
            idText = text.slice(id, text.length - 2);
          }
        }
      }
      if (indicatorText !== null) {
        const parts = this.rests.get(rest);
        if (parts !== undefined) {
          const indicator = prepareIndicator(indicatorText, options);
          this.apply(entryFromParts(indicator, parts, idText === null ? parts.id : prepareId(idText)), lineNumber);
          return;
        }
      }
    }
    let input: IntelEntryInput;
    if (this.format === 'csv') {
      input = this.csvInput(text);
      // Without its id field the line has fewer fields than the header, and its last one is not an id.
      if (idText !== null && input.id === undefined) indicatorText = null;
    } else {
      const plain = this.plainJson.read(text);
      // Only a line the expression read may lend its tail: JSON.parse accepts more (a repeated key would override).
      if (plain === null) indicatorText = null;
      input = plain ?? jsonInput(text);
    }
    const indicator = prepareIndicator(input.indicator, options);
    const parts = prepareParts(input, options);
    this.apply(entryFromParts(indicator, parts), lineNumber);
    if (indicatorText !== null) this.rests.set(rest, idText === null ? parts : { ...parts, id: null });
  }

  overlong(lineNumber: number): void {
    this.sink.fail(lineNumber, 'intel_line', `line longer than ${this.options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH} characters`);
  }

  end(): void {
    this.sink.end?.();
  }

  /** Refuses over-broad and already expired entries; passes the rest on. */
  private apply(entry: PreparedEntry, lineNumber: number): void {
    if (this.breadth !== null && !this.options.allowOverBroad) {
      const why = overBroadReason(entry.indicator, entry.action, this.breadth);
      if (why !== null) throw new IntelEntryError('indicator', why, 'load with force (allowOverBroad) if this range is really meant');
    }
    if (entry.expiresAt !== 0 && entry.expiresAt <= this.nowSeconds) {
      this.expired++;
      return;
    }
    this.sink.entry(entry, lineNumber, this.charsSeen);
  }

  private parseHeader(text: string, lineNumber: number): (CsvColumn | null)[] {
    const fields = splitCsvLine(text);
    if (typeof fields === 'string') throw new IntelFileError(this.name, lineNumber, `bad CSV header: ${fields}`);
    const columns: (CsvColumn | null)[] = [];
    for (const field of fields) {
      const column = field.trim().toLowerCase();
      if (!(CSV_COLUMNS as readonly string[]).includes(column)) {
        throw new IntelFileError(
          this.name, lineNumber,
          `unknown CSV column ${JSON.stringify(field.slice(0, 40))}`,
          `columns are ${CSV_COLUMNS.join(', ')} (a CSV intel file starts with a header line naming them)`,
        );
      }
      if (columns.includes(column as CsvColumn)) throw new IntelFileError(this.name, lineNumber, `CSV column ${column} appears twice`);
      columns.push(column as CsvColumn);
    }
    if (!columns.includes('indicator')) {
      throw new IntelFileError(this.name, lineNumber, 'the CSV header has no indicator column', `header example: ${CSV_COLUMNS.slice(0, 6).join(',')}`);
    }
    this.columnAt = Object.fromEntries(CSV_COLUMNS.map((c) => [c, columns.indexOf(c)])) as Record<CsvColumn, number>;
    this.csvIdLast = columns.length > 1 && this.columnAt.id === columns.length - 1;
    return columns;
  }

  private csvInput(text: string): IntelEntryInput {
    const fields = splitCsvLine(text);
    if (typeof fields === 'string') throw new IntelEntryError('csv', fields);
    const columns = this.columns!;
    if (fields.length > columns.length) {
      throw new IntelEntryError('csv', `${fields.length} fields but the header names ${columns.length} (quote fields that contain commas)`);
    }
    const at = this.columnAt!;
    return {
      indicator: fields[at.indicator] ?? '',
      action: field(fields, at.action),
      expires: field(fields, at.expires),
      source: field(fields, at.source),
      reason: field(fields, at.reason),
      tags: field(fields, at.tags),
      id: field(fields, at.id),
    };
  }
}

/** Field `i` of a CSV record; -1 (a column the header lacks) gives undefined without looking up a property "-1". */
function field(fields: string[], i: number): string | undefined {
  return i >= 0 ? fields[i] : undefined;
}

function plainIndicator(text: string): string | null {
  let end = text.length;
  const hash = text.indexOf('#');
  if (hash >= 0) end = hash;
  const semi = text.indexOf(';');
  if (semi >= 0 && semi < end) end = semi;
  const indicator = (end === text.length ? text : text.slice(0, end)).trim();
  return indicator.length === 0 ? null : indicator;
}

function jsonInput(text: string): IntelEntryInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new IntelEntryError('json', `not valid JSON (${(err as Error).message.slice(0, 100)})`, 'each line is one JSON object: {"indicator": "198.18.0.5", "action": "block"}');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new IntelEntryError('json', 'the line is JSON but not an object', 'each line is one JSON object: {"indicator": "198.18.0.5", "action": "block"}');
  }
  const o = value as Record<string, unknown>;
  if (typeof o.indicator !== 'string') {
    throw new IntelEntryError('indicator', o.indicator === undefined ? 'missing' : `expected a string, got ${typeof o.indicator}`);
  }
  return {
    indicator: o.indicator,
    action: o.action as string | undefined,
    expires: o.expires as string | number | undefined,
    source: o.source as string | undefined,
    reason: o.reason as string | undefined,
    tags: o.tags as string | string[] | undefined,
    id: o.id as string | number | undefined,
  };
}
