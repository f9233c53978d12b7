/**
 * WriteEcho: what a process's own RedisIntelStore just wrote, offered to the RedisIntelSync of the same process
 * (the API follows the stream it writes: every entry of a bulk import comes back to it as a change event). The
 * sync can then apply the entry the store already holds instead of decoding the event's record again.
 *
 * Never trusted blindly: an offered entry is used only when the event's record starts with exactly the content
 * the store wrote for it (the record encoding round-trips, so that content decodes to that entry). A version
 * reused after a failover, a flush or another writer can therefore only cost the saving, never the result.
 * Bounded: the oldest writes are forgotten when the sync falls behind.
 */
import { textAt } from '../../util/text-at.js';
import type { PreparedEntry } from '../entry.js';

interface Written {
  readonly epoch: string;
  /** Version of entries[0]; the others follow consecutively. */
  readonly first: number;
  readonly entries: readonly PreparedEntry[];
  /** The record content (encodeContent) written for each entry. */
  readonly contents: readonly string[];
}

/** Entries remembered at most: a sync this far behind decodes (the saving is lost, never the memory bound). */
const MAX_ENTRIES = 32_768;

export class WriteEcho {
  private writes: Written[] = [];
  private entries = 0;
  /** The sync's version at its last consumed(): a write it already applied (its reply came late) is not kept. */
  private applied = 0;

  /** The store wrote `entries` (with these contents) as versions first.. of `epoch`. */
  offer(epoch: string, first: number, entries: readonly PreparedEntry[], contents: readonly string[]): void {
    if (entries.length === 0 || entries.length !== contents.length || entries.length > MAX_ENTRIES) return;
    if (first + entries.length - 1 <= this.applied) return;
    while (this.entries + entries.length > MAX_ENTRIES) this.entries -= this.writes.shift()!.entries.length;
    this.writes.push({ epoch, first, entries, contents });
    this.entries += entries.length;
  }

  /**
   * The entry written as `version` of `epoch`, if `text` holds its record at [from, to) with exactly the content
   * written; else undefined (decode the record).
   */
  match(epoch: string, version: number, text: string, from: number, to: number): PreparedEntry | undefined {
    const writes = this.writes;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      const at = version - w.first;
      if (at < 0 || at >= w.entries.length || w.epoch !== epoch) continue;
      const content = w.contents[at]!;
      const end = from + content.length;
      return end < to && text.charCodeAt(end) === 9 && textAt(text, from, content) ? w.entries[at] : undefined;
    }
    return undefined;
  }

  /** Forgets every write whose versions are all at or below `version` (applied). */
  consumed(version: number): void {
    this.applied = version;
    let drop = 0;
    while (drop < this.writes.length && this.writes[drop]!.first + this.writes[drop]!.entries.length - 1 <= version) {
      this.entries -= this.writes[drop]!.entries.length;
      drop++;
    }
    if (drop > 0) this.writes = this.writes.slice(drop);
  }

  clear(): void {
    this.writes = [];
    this.entries = 0;
    this.applied = 0;
  }

  /** Writes remembered (tests, diagnostics). */
  get size(): number {
    return this.writes.length;
  }
}
