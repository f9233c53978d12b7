/**
 * The inserting half of an intel file load: checked entries in (from an IntelLineParser, in this thread or in the
 * load's worker), upserted into the set; counts, line errors and the load's result out.
 */
import { actionCode, INTEL_ACTIONS } from './action.js';
import type { PreparedEntry } from './entry.js';
import type { IntelFileFormat, ParsedLineSink } from './intel-line-parser.js';
import { INDICATOR_KINDS, type IndicatorKind } from './indicator.js';
import type { IntelSet } from './intel-set.js';
import type { IntelLineError, IntelLoadStats } from './intel-file.js';
import { OffpathError } from '../util/errors.js';

const DEFAULT_MAX_ERRORS = 1000;
/** Entries loaded before extrapolating the file's size into a one-time reservation. */
const RESERVE_SAMPLE = 4096;
/** Entries upserted together once the reservation is made (flush). */
const BATCH = 64;
const RESERVED_KINDS: readonly IndicatorKind[] = ['ipv4', 'ipv6', 'cidr4', 'cidr6'];

export class EntryInserter implements ParsedLineSink {
  private loaded = 0;
  private skipped = 0;
  private readonly errors: IntelLineError[] = [];
  private errorsNotKept = 0;
  /**
   * Counts by INDICATOR_KINDS index and by action code, turned into records by result(): counting into a record
   * keyed by the kind's or action's name cost 80 ns a line (a keyed property access with a varying name).
   */
  private readonly kindCounts = new Float64Array(INDICATOR_KINDS.length);
  private readonly actionCounts = new Float64Array(4);
  private readonly maxErrors: number;
  /** Characters of input read through the last entry's line, for the size extrapolation. */
  private charsSeen = 0;
  private reserved = false;
  /** Entries loaded with an explicit id, to pre-size the set's id index from the sample. */
  private explicitIds = 0;
  /** CIDR entries of the sample by prefix length, to pre-size each length's table. */
  private readonly cidr4Lengths = new Float64Array(33);
  private readonly cidr6Lengths = new Float64Array(129);
  /** Checked entries waiting to be upserted together, and their line numbers (flush). */
  private readonly batch: PreparedEntry[] = [];
  private readonly batchLines: number[] = [];

  /**
   * `expectedBytes`: size of the input, when known. After the first few thousand entries the inserter extrapolates
   * the entry count per kind and pre-sizes the set once, instead of letting the tables grow step by step.
   */
  constructor(
    private readonly set: IntelSet,
    private readonly expectedBytes: number | undefined,
    maxErrors: number | undefined,
  ) {
    this.maxErrors = maxErrors ?? DEFAULT_MAX_ERRORS;
  }

  entry(entry: PreparedEntry, lineNumber: number, charsSeen: number): void {
    this.charsSeen = charsSeen;
    this.batch.push(entry);
    this.batchLines.push(lineNumber);
    // The sample that sizes the reservation goes in one by one, so that the counts it reads are up to date.
    if (!this.reserved || this.batch.length === BATCH) this.flush();
  }

  fail(line: number, code: string, message: string): void {
    this.skipped++;
    if (this.errors.length < this.maxErrors) this.errors.push({ line, code, message });
    else this.errorsNotKept++;
  }

  /** End of input: the entries held back go in. */
  end(): void {
    this.flush();
  }

  result(name: string, format: IntelFileFormat, lines: number, expired: number, durationMs: number, parsedIn: IntelLoadStats['parsedIn']): IntelLoadStats {
    this.flush(); // for a caller that fed entries without end()
    // An entry refused at upsert (capacity) is reported at the flush, after later lines' own errors.
    this.errors.sort((a, b) => a.line - b.line);
    return {
      name,
      format,
      lines,
      loaded: this.loaded,
      skipped: this.skipped,
      expired,
      byKind: Object.fromEntries(INDICATOR_KINDS.map((k, i) => [k, this.kindCounts[i]!])) as Record<IndicatorKind, number>,
      byAction: Object.fromEntries(INTEL_ACTIONS.map((a) => [a, this.actionCounts[actionCode(a)]!])) as IntelLoadStats['byAction'],
      errors: this.errors,
      errorsNotKept: this.errorsNotKept,
      durationMs,
      parsedIn,
    };
  }

  private upsert(entry: PreparedEntry): void {
    this.set.upsertPrepared(entry);
    this.loaded++;
    this.kindCounts[INDICATOR_KINDS.indexOf(entry.indicator.kind)]! += 1;
    this.actionCounts[entry.actionCode]! += 1;
    if (!this.reserved) {
      const indicator = entry.indicator;
      if (entry.explicitId !== null) this.explicitIds++;
      if (indicator.kind === 'cidr4') this.cidr4Lengths[indicator.prefixLength]! += 1;
      else if (indicator.kind === 'cidr6') this.cidr6Lengths[indicator.prefixLength]! += 1;
      if (this.loaded === RESERVE_SAMPLE) this.reserveForRest();
    }
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
          // A set that refuses an entry (capacity) refuses that line, not the load.
          if (!(err instanceof OffpathError)) throw err;
          this.fail(this.batchLines[i]!, err.code, err.message);
        }
      }
    } finally {
      batch.length = 0;
      this.batchLines.length = 0;
    }
  }

  /**
   * Pre-sizes the set for the rest of the input, by kind and CIDR prefix length, from the sample loaded so far. A
   * reservation is only a hint: one the set refuses (capacity) is skipped, and each entry then reports its own error.
   */
  private reserveForRest(): void {
    this.reserved = true;
    const total = this.expectedBytes;
    if (total === undefined || this.charsSeen === 0 || total <= this.charsSeen) return;
    const factor = (total - this.charsSeen) / this.charsSeen;
    try {
      // Address kinds only: ip-port spans two stores and domains live in a Map; both are small in practice.
      for (const kind of RESERVED_KINDS) {
        const seen = this.kindCounts[INDICATOR_KINDS.indexOf(kind)]!;
        if (seen > 0) this.set.reserve(kind, Math.ceil(seen * factor));
      }
      for (let len = 0; len < this.cidr4Lengths.length; len++) {
        if (this.cidr4Lengths[len]! > 0) this.set.reservePrefix('cidr4', len, Math.ceil(this.cidr4Lengths[len]! * factor));
      }
      for (let len = 0; len < this.cidr6Lengths.length; len++) {
        if (this.cidr6Lengths[len]! > 0) this.set.reservePrefix('cidr6', len, Math.ceil(this.cidr6Lengths[len]! * factor));
      }
      if (this.explicitIds > 0) this.set.reserveIds(Math.ceil(this.explicitIds * factor));
    } catch (err) {
      if (!(err instanceof OffpathError)) throw err;
    }
  }
}
