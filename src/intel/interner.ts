/**
 * Interning of the strings that repeat across millions of entries (sources, reasons, tag sets), with reference
 * counts so that strings no entry uses any more are released (a change stream can run for months).
 *
 * An entry stores one small "profile" number: the interned (source, reason, tag set) triple. A feed of a million
 * lines typically has a handful of profiles, so metadata costs 2 bytes per entry plus a few strings in total.
 */
import { hashString } from './hash.js';

/**
 * Returns a copy of `text` that shares no memory with a bigger string. Lines cut out of a 64 KiB read chunk are
 * V8 "sliced strings" that keep the whole chunk alive; anything kept for the life of an entry must be detached,
 * or a loaded file would stay in memory chunk by chunk.
 */
export function detachString(text: string): string {
  // V8 copies short substrings anyway (below 13 characters); longer ones are rebuilt from their UTF-8 bytes.
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}

/** Strings <-> small integer ids, reference-counted; ids of released strings are reused. */
export class StringInterner {
  private readonly ids = new Map<string, number>();
  private readonly values: (string | undefined)[] = [];
  private readonly hashes: number[] = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];

  /** Id of `value`, adding it if new; takes one reference. */
  acquire(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.free.length > 0 ? this.free.pop()! : this.values.length;
      value = detachString(value);
      this.ids.set(value, id);
      this.values[id] = value;
      this.hashes[id] = hashString(value);
      this.refs[id] = 0;
    }
    this.refs[id]!++;
    return id;
  }

  /** Id of `value` if interned, else -1. Takes no reference. */
  find(value: string): number {
    return this.ids.get(value) ?? -1;
  }

  /** Drops one reference; returns true when that was the last one and the id is now free. */
  release(id: number): boolean {
    const left = --this.refs[id]!;
    if (left > 0) return false;
    this.ids.delete(this.values[id]!);
    this.values[id] = undefined;
    this.free.push(id);
    return true;
  }

  value(id: number): string {
    return this.values[id]!;
  }

  /** Content hash of the string (for the digest; the same on every sensor, unlike the id). */
  hash(id: number): number {
    return this.hashes[id]!;
  }

  get size(): number {
    return this.ids.size;
  }
}

/** Interned (source, reason, tag set) triples. */
export class ProfileTable {
  readonly sources = new StringInterner();
  readonly reasons = new StringInterner();
  /** Tag sets are interned by their sorted, NUL-joined text. */
  readonly tagSets = new StringInterner();
  private readonly tagLists: (readonly string[] | undefined)[] = [];
  private readonly ids = new Map<string, number>();
  /** Per profile: source id, reason id, tag set id. */
  private triples: number[] = [];
  private readonly refs: number[] = [];
  private readonly keys: (string | undefined)[] = [];
  private readonly free: number[] = [];
  // One-entry cache: bulk loads repeat the same (source, reason, tags) line after line.
  private lastSource = '';
  private lastReason = '';
  private lastTags: readonly string[] | null = null;
  private lastId = -1;

  /** Profile id for the triple, adding it if new; takes one reference. */
  acquire(source: string, reason: string, tags: readonly string[]): number {
    let id: number;
    if (this.lastId >= 0 && source === this.lastSource && reason === this.lastReason && tags === this.lastTags && this.refs[this.lastId]! > 0) {
      id = this.lastId;
    } else {
      const tagKey = tags.join('\u0000');
      const key = `${source}\u0000\u0001${reason}\u0000\u0001${tagKey}`;
      const existing = this.ids.get(key);
      if (existing !== undefined) {
        id = existing;
      } else {
        id = this.free.length > 0 ? this.free.pop()! : this.refs.length;
        const tagSet = this.tagSets.acquire(tagKey);
        if (this.tagLists[tagSet] === undefined) this.tagLists[tagSet] = Object.freeze(tags.map(detachString));
        this.triples[3 * id] = this.sources.acquire(source);
        this.triples[3 * id + 1] = this.reasons.acquire(reason);
        this.triples[3 * id + 2] = tagSet;
        this.refs[id] = 0;
        const stored = detachString(key);
        this.keys[id] = stored;
        this.ids.set(stored, id);
      }
      this.lastSource = source;
      this.lastReason = reason;
      this.lastTags = tags;
      this.lastId = id;
    }
    this.refs[id]!++;
    return id;
  }

  release(id: number): void {
    if (--this.refs[id]! > 0) return;
    this.sources.release(this.triples[3 * id]!);
    this.reasons.release(this.triples[3 * id + 1]!);
    const tagSet = this.triples[3 * id + 2]!;
    if (this.tagSets.release(tagSet)) this.tagLists[tagSet] = undefined;
    this.ids.delete(this.keys[id]!);
    this.keys[id] = undefined;
    this.free.push(id);
    if (this.lastId === id) this.lastId = -1;
  }

  sourceId(id: number): number {
    return this.triples[3 * id]!;
  }
  source(id: number): string {
    return this.sources.value(this.triples[3 * id]!);
  }
  reason(id: number): string {
    return this.reasons.value(this.triples[3 * id + 1]!);
  }
  tags(id: number): readonly string[] {
    return this.tagLists[this.triples[3 * id + 2]!]!;
  }
  sourceHash(id: number): number {
    return this.sources.hash(this.triples[3 * id]!);
  }
  reasonHash(id: number): number {
    return this.reasons.hash(this.triples[3 * id + 1]!);
  }
  tagsHash(id: number): number {
    return this.tagSets.hash(this.triples[3 * id + 2]!);
  }

  /** Number of live profiles. */
  get size(): number {
    return this.ids.size;
  }
}
