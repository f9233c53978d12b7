/**
 * The sensor's local copy of the last good intel set, so that a sensor restarting while Redis is down still
 * enforces (and says how stale its intel is).
 *
 * File format (text, one item per line, written to FILE.tmp, fsynced, then renamed over FILE: a crash never leaves
 * a half-written cache under the real name):
 *
 *   {"offpathIntelCache":1,"epoch":"...","version":N,"streamId":"...","syncedAt":MS}     header
 *   u<TAB>record (11 fields, record-codec.ts: it starts with the identity)              entry / upsert
 *   r<TAB>SOURCE<TAB>ID                                                                   remove
 *   {"end":true,"version":N,"streamId":"...","syncedAt":MS,"entries":N}                 trailer
 *
 * The entries are written in slices (the sensor keeps running in between), so changes may land while the file is
 * written. Every change applied during the write is also appended after the entries, in order ("journal"): loading
 * the entries then replaying the journal gives exactly the set at the trailer's version, since an entry that did not
 * change is written once, and any entry that did change ends in the state its last journal line gives it.
 * A file without its trailer is refused as a whole.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { IntelSet } from '../intel-set.js';
import { readLines } from '../line-reader.js';
import { OffpathError } from '../../util/errors.js';
import { forEachLiveHandleFrom, type HandlePosition } from '../reconcile.js';
import { decodeEntry, TAG_SEPARATOR } from './record-codec.js';
import { splitIdentityField } from './schema.js';

export interface CachePosition {
  readonly epoch: string | null;
  readonly version: number;
  readonly streamId: string;
  /** Wall-clock ms when the set was last known to match Redis. */
  readonly syncedAt: number;
}

export interface CacheLoadResult extends CachePosition {
  readonly entries: number;
  readonly malformed: number;
  readonly expired: number;
}

/** The cache file cannot be used (missing, truncated, not ours). */
export class IntelCacheError extends OffpathError {
  constructor(file: string, message: string) {
    super('intel_cache', `${file}: ${message}`, 'the sensor waits for Redis instead');
    this.name = 'IntelCacheError';
  }
}

/** Changes applied while a cache is being written, in order (fed by the sync client). */
export class CacheJournal {
  readonly lines: string[] = [];
  /** Set when the set was replaced wholesale during the write (resync): the file would not be consistent. */
  aborted = false;
  upsert(record: string): void {
    this.lines.push(`u\t${record}`);
  }
  remove(field: string): void {
    this.lines.push(`r\t${field}`);
  }
}

const SLICE = 8192;
const FLUSH_BYTES = 1 << 20;

/**
 * Writes the in-scope entries of `set` to `file`. `journal` must receive every change applied to the set until the
 * returned promise settles; `position()` is read at the end. Returns the entry count, or null when aborted.
 */
export async function writeIntelCache(
  file: string,
  set: IntelSet,
  inScope: (source: string) => boolean,
  journal: CacheJournal,
  position: () => CachePosition,
): Promise<number | null> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  let ok = false;
  try {
    const start = position();
    let buffer = `${JSON.stringify({ offpathIntelCache: 1, epoch: start.epoch, version: start.version, streamId: start.streamId, syncedAt: start.syncedAt })}\n`;
    let entries = 0;
    const flush = async (): Promise<void> => {
      if (buffer.length > 0) await handle.write(buffer);
      buffer = '';
    };
    let cursor: HandlePosition | null = { kind: 0, index: 0 };
    while (cursor !== null) {
      cursor = forEachLiveHandleFrom(set, cursor, SLICE, (h) => {
        const source = set.sourceOf(h);
        if (!inScope(source)) return;
        const indicator = set.indicatorOf(h);
        const id = set.idOf(h);
        buffer += `u\t${source}\t${id === indicator ? '' : id}\t${indicator}\t${set.actionOf(h)}\t${set.expiresAt(h)}\t${set.reasonOf(h)}\t${set.tagsOf(h).join(TAG_SEPARATOR)}\t0\t0\t\t0\n`;
        entries++;
      });
      if (buffer.length >= FLUSH_BYTES) await flush();
      else await nextTurn();
      if (journal.aborted) return null;
    }
    // Everything applied since the first slice, then the position it leads to.
    const end = position();
    for (const line of journal.lines) buffer += `${line}\n`;
    buffer += `${JSON.stringify({ end: true, version: end.version, streamId: end.streamId, epoch: end.epoch, syncedAt: end.syncedAt, entries })}\n`;
    await flush();
    if (journal.aborted) return null;
    await handle.sync();
    ok = true;
    return entries;
  } finally {
    await handle.close();
    if (ok) await rename(tmp, file);
    else await rm(tmp, { force: true });
  }
}

/**
 * Loads a cache file into `target` (upserts and removes, in file order). Entries already expired at `nowSeconds`
 * are skipped; malformed lines are counted. Throws IntelCacheError when the file is missing, truncated or not ours;
 * `target` is then untouched.
 */
export async function loadIntelCache(file: string, target: IntelSet, nowSeconds: number): Promise<CacheLoadResult> {
  const trailer = await readTrailer(file);
  let header: CachePosition | null = null;
  let entries = 0;
  let malformed = 0;
  let expired = 0;
  let badHeader: string | null = null;
  const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
  try {
    await readLines(stream, {
      line(text, lineNumber) {
        if (badHeader !== null) return;
        if (lineNumber === 1) {
          header = parseHeader(text);
          if (header === null) badHeader = 'the first line is not an offpath intel cache header';
          return;
        }
        if (text.startsWith('{')) return; // the trailer
        const kind = text.charCodeAt(0);
        if (kind === 117 /* u */ && text.charCodeAt(1) === 9) {
          try {
            const entry = decodeEntry(null, text.slice(2));
            if (entry.expiresAt !== 0 && entry.expiresAt <= nowSeconds) {
              target.remove(entry.source, entry.explicitId ?? entry.indicator.text);
              expired++;
            } else {
              target.upsertPrepared(entry);
              entries++;
            }
          } catch {
            malformed++;
          }
        } else if (kind === 114 /* r */ && text.charCodeAt(1) === 9) {
          const identity = splitIdentityField(text.slice(2));
          if (identity) target.remove(identity.source, identity.id);
          else malformed++;
        } else if (text.length > 0) {
          malformed++;
        }
      },
      overlong() {
        malformed++;
      },
    });
  } catch (err) {
    throw new IntelCacheError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    stream.destroy();
  }
  if (badHeader !== null || header === null) throw new IntelCacheError(file, badHeader ?? 'empty file');
  return { epoch: trailer.epoch, version: trailer.version, streamId: trailer.streamId, syncedAt: trailer.syncedAt, entries, malformed, expired };
}

/** Reads and checks the last line of the file (the trailer), without reading the rest. */
async function readTrailer(file: string): Promise<CachePosition> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw new IntelCacheError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const length = Math.min(size, 64 * 1024);
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.length > 0);
    const last = lines[lines.length - 1] ?? '';
    let trailer: unknown;
    try {
      trailer = JSON.parse(last);
    } catch {
      trailer = null;
    }
    const t = trailer as { end?: unknown; version?: unknown; streamId?: unknown; epoch?: unknown; syncedAt?: unknown } | null;
    if (t === null || t.end !== true || typeof t.version !== 'number' || typeof t.streamId !== 'string' || typeof t.syncedAt !== 'number') {
      throw new IntelCacheError(file, 'no trailer line: the file is truncated or not an intel cache');
    }
    return { epoch: typeof t.epoch === 'string' ? t.epoch : null, version: t.version, streamId: t.streamId, syncedAt: t.syncedAt };
  } finally {
    await handle.close();
  }
}

function parseHeader(text: string): CachePosition | null {
  try {
    const h = JSON.parse(text) as { offpathIntelCache?: unknown; version?: unknown; streamId?: unknown; epoch?: unknown; syncedAt?: unknown };
    if (h.offpathIntelCache !== 1 || typeof h.version !== 'number' || typeof h.streamId !== 'string' || typeof h.syncedAt !== 'number') return null;
    return { epoch: typeof h.epoch === 'string' ? h.epoch : null, version: h.version, streamId: h.streamId, syncedAt: h.syncedAt };
  } catch {
    return null;
  }
}
