/**
 * Intel files: streamed line by line into an IntelSet; a bad line is reported (line number + reason) and skipped,
 * the rest loads.
 *
 * Formats (detected from the first line that is neither blank nor a '#' comment, or forced with `format`):
 *
 *   plain   one indicator per line; '#' or ';' starts a comment (so "1.10.16.0/20 ; SBL256894" works);
 *           blank lines ignored; action = `defaultAction` (block unless set).
 *   csv     header line naming the columns, in any order: indicator (required), action, expires, source, reason,
 *           tags, id. Tags are separated by ';' or '|' inside their field. Fields may be double-quoted (commas
 *           inside quotes are literal, "" is a quote). Blank and '#' lines are ignored. Detected when the first line
 *           has an `indicator` column.
 *   jsonl   one JSON object per line with the same field names ("tags" may also be a JSON array, "expires" a
 *           number). Unknown fields are ignored (feeds carry extra data). Detected when the first line starts with '{'.
 *
 * Lines are never joined into one big string (see line-reader.ts), so files of millions of lines load in bounded
 * memory besides the set itself. Errors are kept up to `maxErrors` (default 1000); beyond that only counted.
 * Entries already expired at load time are skipped and counted in `expired`. CIDRs the breadth policy calls
 * over-broad are refused (reported as line errors) unless `allowOverBroad` is set.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { actionCode, INTEL_ACTIONS, type IntelAction } from './action.js';
import { DEFAULT_BREADTH_POLICY, overBroadReason, type BreadthPolicy } from './breadth.js';
import { splitCsvLine } from './csv.js';
import {
  entryFromParts, PrepareMemo, prepareId, prepareIndicator, prepareParts, type IntelEntryInput, type PreparedEntry, type PreparedParts, type PrepareOptions,
} from './entry.js';
import { IntelEntryError, IntelFileError } from './errors.js';
import { PlainJsonLineReader, plainIdStart, plainIndicatorEnd, plainIndicatorStart } from './json-line.js';
import { LineRestMemo } from './line-rest-memo.js';
import { INDICATOR_KINDS, type IndicatorKind } from './indicator.js';
import type { IntelSet } from './intel-set.js';
import { DEFAULT_MAX_LINE_LENGTH, readLines } from './line-reader.js';
import { OffpathError } from '../util/errors.js';

export type IntelFileFormat = 'plain' | 'csv' | 'jsonl';

export interface IntelLoadOptions {
  /** Default 'auto' (detect from content). */
  readonly format?: IntelFileFormat | 'auto';
  /** Source of entries whose line names none. Default: the file's base name. */
  readonly source?: string;
  /** Action of entries whose line names none. Default 'block'. */
  readonly defaultAction?: IntelAction;
  /** Anchor for TTLs and for skipping already-expired entries. Default: the set's clock. */
  readonly nowSeconds?: number;
  /** Line errors kept in the result (the rest are only counted). Default 1000. */
  readonly maxErrors?: number;
  /** Over-broad policy; null disables it. Default DEFAULT_BREADTH_POLICY. */
  readonly breadth?: BreadthPolicy | null;
  /** Load over-broad CIDRs anyway (the explicit "force"). */
  readonly allowOverBroad?: boolean;
  /** Host bits in CIDRs: 'reject' (default) or 'mask'. */
  readonly hostBits?: 'reject' | 'mask';
  /** Longest line accepted, in characters. Default 64 KiB. */
  readonly maxLineLength?: number;
  /**
   * Size of the input in bytes, when known (loadIntelFile passes the file size). After the first few thousand
   * entries the loader extrapolates the entry count per kind and pre-sizes the set once, instead of letting the
   * tables grow step by step through the whole file.
   */
  readonly expectedBytes?: number;
}

export interface IntelLineError {
  readonly line: number;
  /** Error code of the typed error (intel_indicator, intel_entry, ...). */
  readonly code: string;
  readonly message: string;
}

export interface IntelLoadStats {
  readonly name: string;
  readonly format: IntelFileFormat;
  /** Lines read, including blank and comment lines. */
  readonly lines: number;
  /** Entries added or updated. */
  readonly loaded: number;
  /** Lines refused (bad or over-broad). */
  readonly skipped: number;
  /** Entries already expired at load time, not loaded. */
  readonly expired: number;
  readonly byKind: Readonly<Record<IndicatorKind, number>>;
  readonly byAction: Readonly<Record<IntelAction, number>>;
  /** The first `maxErrors` line errors, in line order. */
  readonly errors: readonly IntelLineError[];
  /** Line errors beyond `maxErrors`, counted but not kept. */
  readonly errorsNotKept: number;
  readonly durationMs: number;
}

const CSV_COLUMNS = ['indicator', 'action', 'expires', 'source', 'reason', 'tags', 'id'] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];
const DEFAULT_MAX_ERRORS = 1000;
/** Entries loaded before extrapolating the file's size into a one-time reservation. */
const RESERVE_SAMPLE = 4096;
/** Entries upserted together once the reservation is made (flush). */
const BATCH = 64;
const RESERVED_KINDS: readonly IndicatorKind[] = ['ipv4', 'ipv6', 'cidr4', 'cidr6'];

/** Loads an intel file into `set`. Throws IntelFileError when the file cannot be read or its CSV header is unusable. */
export async function loadIntelFile(path: string, set: IntelSet, options: IntelLoadOptions = {}): Promise<IntelLoadStats> {
  // stat first: a stream opened on a missing file emits its error event before anyone listens, and that
  // would be an uncaught exception rather than a typed error.
  let stream: ReturnType<typeof createReadStream> | undefined;
  try {
    const { size } = await stat(path);
    stream = createReadStream(path, { highWaterMark: 256 * 1024 });
    return await loadIntelStream(stream, set, { expectedBytes: size, ...options, source: options.source ?? basename(path) }, path);
  } catch (err) {
    if (err instanceof OffpathError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new IntelFileError(path, 0, `cannot read: ${e.code ?? e.message}`, e.code === 'ENOENT' ? 'check the path' : undefined);
  } finally {
    stream?.destroy();
  }
}

/** Loads intel from any byte or text stream (`name` labels errors). */
export async function loadIntelStream(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  set: IntelSet,
  options: IntelLoadOptions = {},
  name = options.source ?? 'stream',
): Promise<IntelLoadStats> {
  const loader = new IntelLineLoader(set, options, name);
  const started = performance.now();
  const lines = await readLines(source, loader, options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  // Finish table growth left half-way by the load, in slices, so lookups keep running in between.
  while (set.maintain()) await new Promise<void>((resolve) => setImmediate(resolve));
  return loader.result(lines, performance.now() - started);
}

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

/** Line-by-line state machine behind loadIntelStream (exported for tests and for loaders of other transports). */
export class IntelLineLoader {
  private format: IntelFileFormat | null;
  private columns: (CsvColumn | null)[] | null = null;
  /** Field index of each CSV column (-1 when absent, which reads as undefined). */
  private columnAt: Record<CsvColumn, number> | null = null;
  /** Whether the CSV header ends with the id column: line tails are then remembered without it (structuredLine). */
  private csvIdLast = false;
  private loaded = 0;
  private skipped = 0;
  private expired = 0;
  private readonly errors: IntelLineError[] = [];
  private errorsNotKept = 0;
  /**
   * Counts by INDICATOR_KINDS index and by action code, turned into records by result(): counting into a record
   * keyed by the kind's or action's name cost 80 ns a line (a keyed property access with a varying name).
   */
  private readonly kindCounts = new Float64Array(INDICATOR_KINDS.length);
  private readonly actionCounts = new Float64Array(4);
  private readonly now: number;
  private readonly prepareOptions: PrepareOptions;
  private readonly maxErrors: number;
  private readonly breadth: BreadthPolicy | null;
  /** Characters of input seen so far (about bytes for intel files), for the size extrapolation. */
  private charsSeen = 0;
  private reserved = false;
  /** Entries loaded with an explicit id, to pre-size the set's id index from the sample. */
  private explicitIds = 0;
  private readonly plainJson = new PlainJsonLineReader();
  private readonly rests = new LineRestMemo();
  /** Checked entries waiting to be upserted together, and their line numbers (flush). */
  private readonly batch: PreparedEntry[] = [];
  private readonly batchLines: number[] = [];
  /** What a plain line's entry holds besides its indicator: the defaults. */
  private readonly plainParts: PreparedParts;

  constructor(
    private readonly set: IntelSet,
    private readonly options: IntelLoadOptions,
    private readonly name: string,
  ) {
    this.format = options.format === undefined || options.format === 'auto' ? null : options.format;
    this.now = options.nowSeconds ?? set.now();
    this.prepareOptions = {
      nowSeconds: this.now,
      hostBits: options.hostBits ?? 'reject',
      defaultAction: options.defaultAction ?? 'block',
      defaultSource: options.source ?? name,
      memo: new PrepareMemo(this.now),
    };
    this.plainParts = prepareParts({}, this.prepareOptions);
    this.maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
    this.breadth = options.breadth === undefined ? DEFAULT_BREADTH_POLICY : options.breadth;
  }

  line(text: string, lineNumber: number): void {
    this.charsSeen += text.length + 1;
    const first = text.charCodeAt(0);
    // Fast skip of blank and comment lines (any format).
    if (first === 35 /* # */) return;
    if (text.length === 0 || first === 32 || first === 9) {
      const trimmed = text.trim();
      if (trimmed.length === 0 || trimmed.charCodeAt(0) === 35) return;
    }
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
      this.fail(lineNumber, err.code, err.message);
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
    this.fail(lineNumber, 'intel_line', `line longer than ${this.options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH} characters`);
  }

  result(lines: number, durationMs: number): IntelLoadStats {
    this.flush(); // for a caller that fed lines without readLines
    // An entry refused at upsert (capacity) is reported at the flush, after later lines' own errors.
    this.errors.sort((a, b) => a.line - b.line);
    return {
      name: this.name,
      format: this.format ?? 'plain',
      lines,
      loaded: this.loaded,
      skipped: this.skipped,
      expired: this.expired,
      byKind: Object.fromEntries(INDICATOR_KINDS.map((k, i) => [k, this.kindCounts[i]!])) as Record<IndicatorKind, number>,
      byAction: Object.fromEntries(INTEL_ACTIONS.map((a) => [a, this.actionCounts[actionCode(a)]!])) as Record<IntelAction, number>,
      errors: this.errors,
      errorsNotKept: this.errorsNotKept,
      durationMs,
    };
  }

  private apply(entry: PreparedEntry, lineNumber: number): void {
    if (this.breadth !== null && !this.options.allowOverBroad) {
      const why = overBroadReason(entry.indicator, entry.action, this.breadth);
      if (why !== null) throw new IntelEntryError('indicator', why, 'load with force (allowOverBroad) if this range is really meant');
    }
    if (entry.expiresAt !== 0 && entry.expiresAt <= this.now) {
      this.expired++;
      return;
    }
    // The sample that sizes the reservation goes in one by one, so that the counts it reads are up to date.
    if (!this.reserved) {
      this.upsert(entry);
      return;
    }
    this.batch.push(entry);
    this.batchLines.push(lineNumber);
    if (this.batch.length === BATCH) this.flush();
  }

  private upsert(entry: PreparedEntry): void {
    this.set.upsertPrepared(entry);
    this.loaded++;
    if (entry.explicitId !== null) this.explicitIds++;
    this.kindCounts[INDICATOR_KINDS.indexOf(entry.indicator.kind)]! += 1;
    this.actionCounts[entry.actionCode]! += 1;
    if (this.loaded === RESERVE_SAMPLE && !this.reserved) this.reserveForRest();
  }

  /**
   * Upserts the entries held back, after reading the table lines each will need (IntelSet.prefetchAll): the reads of
   * one batch miss the cache together, where one entry at a time waits for each miss in turn (a 1 M-line load
   * spent a third of its time there).
   */
  private flush(): void {
    const batch = this.batch;
    this.set.prefetchAll(batch);
    try {
      for (let i = 0; i < batch.length; i++) {
        try {
          this.upsert(batch[i]!);
        } catch (err) {
          if (!(err instanceof OffpathError)) throw err;
          this.fail(this.batchLines[i]!, err.code, err.message);
        }
      }
    } finally {
      batch.length = 0;
      this.batchLines.length = 0;
    }
  }

  /** End of input (readLines): the entries held back go in. */
  end(): void {
    this.flush();
  }

  /** Pre-sizes the set for the rest of the input, by kind, from the sample loaded so far. */
  private reserveForRest(): void {
    this.reserved = true;
    const total = this.options.expectedBytes;
    if (total === undefined || this.charsSeen === 0 || total <= this.charsSeen) return;
    const factor = (total - this.charsSeen) / this.charsSeen;
    // Address kinds only: ip-port spans two stores and domains live in a Map; both are small in practice.
    for (const kind of RESERVED_KINDS) {
      const seen = this.kindCounts[INDICATOR_KINDS.indexOf(kind)]!;
      if (seen > 0) this.set.reserve(kind, Math.ceil(seen * factor));
    }
    if (this.explicitIds > 0) this.set.reserveIds(Math.ceil(this.explicitIds * factor));
  }

  private fail(line: number, code: string, message: string): void {
    this.skipped++;
    if (this.errors.length < this.maxErrors) this.errors.push({ line, code, message });
    else this.errorsNotKept++;
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
