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
 *
 * A load has two halves: parsing (intel-line-parser.ts) and inserting into the set (entry-inserter.ts). A large CSV
 * or JSON-lines file is parsed in a worker thread while this thread inserts (worker-load.ts); the result is the same.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { IntelAction } from './action.js';
import { EntryInserter } from './entry-inserter.js';
import { IntelFileError } from './errors.js';
import type { IndicatorKind } from './indicator.js';
import { detectIntelFormat, IntelLineParser, isBlankOrComment, parseOptionsOf, type IntelFileFormat, type IntelParseOptions } from './intel-line-parser.js';
import type { IntelSet } from './intel-set.js';
import { DEFAULT_MAX_LINE_LENGTH, readLines, stripBom, stripCr, type LineSink } from './line-reader.js';
import { parseInWorker, parseWorkerAvailable } from './worker-load.js';
import { OffpathError } from '../util/errors.js';

export { detectIntelFormat, type IntelFileFormat } from './intel-line-parser.js';

export interface IntelLoadOptions extends IntelParseOptions {
  /** Anchor for TTLs and for skipping already-expired entries. Default: the set's clock. */
  readonly nowSeconds?: number;
  /** Line errors kept in the result (the rest are only counted). Default 1000. */
  readonly maxErrors?: number;
  /**
   * Size of the input in bytes, when known (loadIntelFile passes the file size). After the first few thousand
   * entries the loader extrapolates the entry count per kind and pre-sizes the set once, instead of letting the
   * tables grow step by step through the whole file.
   */
  readonly expectedBytes?: number;
  /**
   * Where loadIntelFile parses: 'worker' in a worker thread while this one inserts, 'thread' in this thread.
   * Default 'auto': a worker for CSV and JSON-lines files of WORKER_MIN_BYTES or more, when the build has the
   * worker's module (see worker-load.ts). Plain lists parse in line: their parsing is cheap beside inserting, and a
   * worker only added CPU time (1 M lines: 0.77 s wall and 1.30 s CPU against 0.72 and 0.83 s in line).
   */
  readonly parseIn?: 'auto' | 'worker' | 'thread';
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
  /** Where the lines were parsed: in a worker thread (loadIntelFile of a large file) or in line. */
  readonly parsedIn: 'worker' | 'thread';
}

/** Files smaller than this are parsed in line: starting a worker costs a few tens of milliseconds. */
export const WORKER_MIN_BYTES = 2 * 1024 * 1024;

/** Loads an intel file into `set`. Throws IntelFileError when the file cannot be read or its CSV header is unusable. */
export async function loadIntelFile(path: string, set: IntelSet, options: IntelLoadOptions = {}): Promise<IntelLoadStats> {
  // stat first: a stream opened on a missing file emits its error event before anyone listens, and that
  // would be an uncaught exception rather than a typed error.
  let stream: ReturnType<typeof createReadStream> | undefined;
  try {
    const { size } = await stat(path);
    const fileOptions = { expectedBytes: size, ...options, source: options.source ?? basename(path) };
    if (await parsesInWorker(path, options, size)) return await loadInWorker(path, set, fileOptions);
    stream = createReadStream(path, { highWaterMark: 256 * 1024 });
    return await loadIntelStream(stream, set, fileOptions, path);
  } catch (err) {
    if (err instanceof OffpathError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw IntelFileError.unreadable(path, e.code ?? e.message);
  } finally {
    stream?.destroy();
  }
}

async function parsesInWorker(path: string, options: IntelLoadOptions, size: number): Promise<boolean> {
  const parseIn = options.parseIn ?? 'auto';
  if (parseIn === 'thread' || (parseIn === 'auto' && size < WORKER_MIN_BYTES)) return false;
  if (!parseWorkerAvailable()) {
    if (parseIn === 'worker') throw new IntelFileError(path, 0, 'this build has no intel parse worker', 'run the compiled build (npm run build), or load with parseIn: thread');
    return false;
  }
  if (parseIn === 'worker') return true;
  const format = options.format === undefined || options.format === 'auto' ? await sniffIntelFormat(path) : options.format;
  return format !== 'plain';
}

/** Bytes read from a file's start to find its format. */
const SNIFF_BYTES = 64 * 1024;

/** The format of an intel file, from its first line that is neither blank nor a comment ('plain' if none is near the start). */
export async function sniffIntelFormat(path: string): Promise<IntelFileFormat> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await file.read(buffer, 0, SNIFF_BYTES, 0);
    const lines = buffer.toString('utf8', 0, bytesRead).split('\n');
    if (bytesRead === SNIFF_BYTES) lines.pop(); // may be cut short
    // Each line as readLines gives it to the parser: without the BOM and the CR of a CRLF.
    for (const [i, line] of lines.entries()) {
      const text = stripCr(i === 0 ? stripBom(line) : line);
      if (!isBlankOrComment(text)) return detectIntelFormat(text);
    }
    return 'plain';
  } finally {
    await file.close();
  }
}

async function loadInWorker(path: string, set: IntelSet, options: IntelLoadOptions): Promise<IntelLoadStats> {
  const started = performance.now();
  const inserter = new EntryInserter(set, options.expectedBytes, options.maxErrors);
  const parsed = await parseInWorker(path, parseOptionsOf(options), options.nowSeconds ?? set.now(), inserter);
  await finishGrowth(set);
  return inserter.result(path, parsed.format, parsed.lines, parsed.expired, performance.now() - started, 'worker');
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
  await finishGrowth(set);
  return loader.result(lines, performance.now() - started);
}

/** Finishes table growth left half-way by a load, in slices, so lookups keep running in between. */
async function finishGrowth(set: IntelSet): Promise<void> {
  while (set.maintain()) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Parses lines and inserts their entries in this thread (exported for tests and for loaders of other transports,
 * such as the Redis import, which hands the entries to a set that forwards them).
 */
export class IntelLineLoader implements LineSink {
  private readonly parser: IntelLineParser;
  private readonly inserter: EntryInserter;

  constructor(
    set: IntelSet,
    options: IntelLoadOptions,
    private readonly name: string,
  ) {
    this.inserter = new EntryInserter(set, options.expectedBytes, options.maxErrors);
    this.parser = new IntelLineParser(options, options.nowSeconds ?? set.now(), name, this.inserter);
  }

  line(text: string, lineNumber: number): void {
    this.parser.line(text, lineNumber);
  }

  overlong(lineNumber: number): void {
    this.parser.overlong(lineNumber);
  }

  /** End of input (readLines): the entries held back go in. */
  end(): void {
    this.parser.end();
  }

  result(lines: number, durationMs: number): IntelLoadStats {
    return this.inserter.result(this.name, this.parser.format ?? 'plain', lines, this.parser.expired, durationMs, 'thread');
  }
}
