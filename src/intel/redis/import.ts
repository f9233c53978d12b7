/**
 * Streaming import of an intel file (plain list, CSV with header, JSON lines: the formats of the intel file loader)
 * into the Redis store. Lines are parsed by the same IntelLineLoader the sensor uses for files, so a file means the
 * same thing loaded locally or imported; its entries flow through a bounded queue into store.upsertMany(), and the
 * file is read only as fast as Redis takes the entries: memory stays flat for files of any length.
 */
import type { PreparedEntry } from '../entry.js';
import { IntelLineLoader, type IntelLoadStats } from '../intel-file.js';
import { parseOptionsOf, type IntelParseOptions } from '../intel-line-parser.js';
import { IntelSet } from '../intel-set.js';
import type { IndicatorKind } from '../indicator.js';
import { DEFAULT_MAX_LINE_LENGTH, readLines } from '../line-reader.js';
import type { RedisIntelStore, UpsertManySummary, WriteMeta } from './intel-store.js';

export interface ImportOptions extends IntelParseOptions {
  /** Label for errors and the default source (`source` overrides it). */
  readonly name: string;
  readonly maxErrors?: number;
  /** Anchor for TTLs (epoch seconds). */
  readonly nowSeconds?: number;
}

export interface ImportResult {
  readonly file: IntelLoadStats;
  readonly written: UpsertManySummary;
}

/** Entries parsed but not yet handed to the store, at most (about one read chunk more). */
const QUEUE_LIMIT = 8192;

export async function importIntel(
  store: RedisIntelStore,
  input: AsyncIterable<Buffer | Uint8Array | string>,
  options: ImportOptions,
  meta: WriteMeta,
): Promise<ImportResult> {
  const started = performance.now();
  const queue = new EntryQueue();
  const loader = new IntelLineLoader(new ForwardingSet((e) => queue.push(e)), {
    ...parseOptionsOf(options),
    maxErrors: options.maxErrors,
    nowSeconds: options.nowSeconds ?? Math.floor(Date.now() / 1000),
  }, options.name);
  const gated = (async function* () {
    for await (const chunk of input) {
      await queue.waitForRoom(QUEUE_LIMIT);
      yield chunk;
    }
  })();
  const reading = readLines(gated, loader, options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH).then(
    (lines) => {
      queue.end(null);
      return lines;
    },
    (err: unknown) => {
      queue.end(err);
      throw err;
    },
  );
  const writing = store.upsertMany(queue.drain(), meta).catch((err: unknown) => {
    queue.abort(err); // stop reading the file: nothing more can be written
    throw err;
  });
  const [read, written] = await Promise.allSettled([reading, writing]);
  if (written.status === 'rejected') throw written.reason;
  if (read.status === 'rejected') throw read.reason;
  return { file: loader.result(read.value, performance.now() - started), written: written.value };
}

/**
 * An IntelSet that keeps nothing: the line loader hands it validated entries, which go to `sink`. (The loader
 * takes an IntelSet; this lets the import reuse its parsing, checks and error reporting unchanged.)
 */
class ForwardingSet extends IntelSet {
  constructor(private readonly sink: (entry: PreparedEntry) => void) {
    super();
  }

  override upsertPrepared(entry: PreparedEntry): number {
    this.sink(entry);
    return -1;
  }

  override reserve(_kind: IndicatorKind, _count: number): void {
    // nothing is stored here
  }

  override reservePrefix(_kind: 'cidr4' | 'cidr6', _prefixLength: number, _count: number): void {
    // nothing is stored here
  }

  override reserveIds(_count: number): void {
    // nothing is stored here
  }

  override prefetchAll(_entries: readonly PreparedEntry[]): void {
    // nothing is stored here
  }
}

/** Single-producer, single-consumer queue with back-pressure. */
class EntryQueue {
  private items: PreparedEntry[] = [];
  private head = 0;
  private ended = false;
  private failure: unknown = null;
  private aborted: unknown = null;
  private wakeData: (() => void) | null = null;
  private wakeRoom: (() => void) | null = null;

  push(entry: PreparedEntry): void {
    this.items.push(entry);
    this.wakeData?.();
  }

  end(err: unknown): void {
    this.ended = true;
    this.failure = err;
    this.wakeData?.();
  }

  abort(err: unknown): void {
    this.aborted = err ?? new Error('import aborted');
    this.wakeRoom?.();
  }

  async waitForRoom(limit: number): Promise<void> {
    while (this.items.length - this.head > limit) {
      if (this.aborted !== null) throw this.aborted;
      await new Promise<void>((resolve) => (this.wakeRoom = resolve));
      this.wakeRoom = null;
    }
    if (this.aborted !== null) throw this.aborted;
  }

  async *drain(): AsyncGenerator<PreparedEntry> {
    for (;;) {
      if (this.head < this.items.length) {
        const entry = this.items[this.head]!;
        this.items[this.head++] = undefined as unknown as PreparedEntry;
        if (this.head >= 4096 && this.head * 2 >= this.items.length) {
          this.items = this.items.slice(this.head);
          this.head = 0;
        }
        if (this.items.length - this.head <= QUEUE_LIMIT) this.wakeRoom?.();
        yield entry;
      } else if (this.ended) {
        if (this.failure !== null) throw this.failure;
        return;
      } else {
        this.wakeRoom?.();
        await new Promise<void>((resolve) => (this.wakeData = resolve));
        this.wakeData = null;
      }
    }
  }
}
