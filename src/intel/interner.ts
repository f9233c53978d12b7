/**
 * Interning of the strings that repeat across millions of entries (sources, reasons, tag sets), with reference
 * counts so that strings no entry uses any more are released (a change stream can run for months).
 *
 * An entry stores one small "profile" number: the interned (source, reason, tag set) triple. A feed of a million
 * lines typically has a handful of profiles, so metadata costs 2 bytes per entry plus a few strings in total.
 */
import { hashString } from './hash.js';
import { WideTable } from './wide-table.js';

/**
 * Returns a copy of `text` that shares no memory with a bigger string. Lines cut out of a 64 KiB read chunk are
 * V8 "sliced strings" that keep the whole chunk alive; anything kept for the life of an entry must be detached,
 * or a loaded file would stay in memory chunk by chunk.
 */
export function detachString(text: string): string {
  // V8 copies short substrings anyway (below 13 characters); longer ones are rebuilt from their bytes. UTF-8 keeps
  // one byte per ASCII character in the copy, but turns a lone surrogate into U+FFFD, which would change the text
  // (and hide it from the check that refuses it): such a text goes through UTF-16, which carries it as it is.
  if (text.length < 13) return text;
  return isWellFormed(text) ? Buffer.from(text, 'utf8').toString('utf8') : Buffer.from(text, 'utf16le').toString('utf16le');
}

/** String.prototype.isWellFormed (V8 11.x, Node 20), which this project's TypeScript library does not declare. */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
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
  /** (source id, reason id, tag set id) -> profile id + 1: no string is built to find a profile. */
  private readonly byTriple = new WideTable(3);
  private readonly tripleKey = new Int32Array(3);
  /** Per profile: source id, reason id, tag set id. */
  private readonly triples: number[] = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];
  private live = 0;
  /**
   * A small cache in front of the lookup, by a fingerprint of the triple: loads repeat a handful of (source, reason,
   * tags) triples, often interleaved (a feed's lines cycle through its categories), which a one-entry cache misses
   * every time. A hit costs three string compares instead of joining the tags and hashing three fresh strings
   * (measured: ProfileTable.acquire was 0.6 s of a 1 M-line bulk import cycling through 120 triples). It holds the
   * interned strings and the frozen tag list, never the caller's array, which the caller may change afterwards.
   */
  private readonly cacheSource = new Array<string>(PROFILE_CACHE_SLOTS).fill('');
  private readonly cacheReason = new Array<string>(PROFILE_CACHE_SLOTS).fill('');
  private readonly cacheTags = new Array<readonly string[]>(PROFILE_CACHE_SLOTS).fill([]);
  private readonly cacheId = new Int32Array(PROFILE_CACHE_SLOTS).fill(-1);

  /**
   * Profile id for the triple, adding it if new; takes one reference. `slot` is profileSlot() of the triple, when
   * the caller has it already (a wrong one costs a cache miss, never a wrong id: the cache's strings are compared).
   */
  acquire(source: string, reason: string, tags: readonly string[], slot = profileSlot(source, reason, tags)): number {
    if ((slot | 0) !== slot || slot < 0 || slot >= PROFILE_CACHE_SLOTS) slot = profileSlot(source, reason, tags);
    let id = this.cacheId[slot]!;
    if (id < 0 || source !== this.cacheSource[slot] || reason !== this.cacheReason[slot] || !sameTags(tags, this.cacheTags[slot]!)) {
      const tagKey = tags.length === 0 ? '' : tags.length === 1 ? tags[0]! : tags.join('\u0000');
      const key = this.tripleKey;
      key[0] = this.sources.find(source);
      key[1] = this.reasons.find(reason);
      key[2] = this.tagSets.find(tagKey);
      // find() gives -1 for an unknown string, which no triple contains.
      id = this.byTriple.get(key) - 1;
      if (id < 0) id = this.create(source, reason, tags, tagKey);
      this.cacheSource[slot] = this.sources.value(this.triples[3 * id]!);
      this.cacheReason[slot] = this.reasons.value(this.triples[3 * id + 1]!);
      this.cacheTags[slot] = this.tagLists[this.triples[3 * id + 2]!]!;
      this.cacheId[slot] = id;
    }
    this.refs[id]!++;
    return id;
  }

  release(id: number): void {
    if (--this.refs[id]! > 0) return;
    const key = this.tripleKey;
    key[0] = this.triples[3 * id]!;
    key[1] = this.triples[3 * id + 1]!;
    key[2] = this.triples[3 * id + 2]!;
    this.byTriple.delete(key);
    this.sources.release(key[0]);
    this.reasons.release(key[1]);
    if (this.tagSets.release(key[2])) this.tagLists[key[2]] = undefined;
    this.free.push(id);
    this.live--;
    // The id may come back for another triple: no cache slot may still name it (rare: a profile's last entry went).
    const ids = this.cacheId;
    for (let i = 0; i < ids.length; i++) if (ids[i] === id) ids[i] = -1;
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
    return this.live;
  }

  private create(source: string, reason: string, tags: readonly string[], tagKey: string): number {
    const id = this.free.length > 0 ? this.free.pop()! : this.refs.length;
    const s = this.sources.acquire(source);
    const r = this.reasons.acquire(reason);
    const t = this.tagSets.acquire(tagKey);
    if (this.tagLists[t] === undefined) this.tagLists[t] = Object.freeze(tags.map(detachString));
    this.triples[3 * id] = s;
    this.triples[3 * id + 1] = r;
    this.triples[3 * id + 2] = t;
    this.refs[id] = 0;
    const key = this.tripleKey;
    key[0] = s;
    key[1] = r;
    key[2] = t;
    this.byTriple.set(key, id + 1);
    this.live++;
    return id;
  }
}

const PROFILE_CACHE_BITS = 10;
const PROFILE_CACHE_SLOTS = 1 << PROFILE_CACHE_BITS;

/**
 * Cache slot of a triple, from each string's length and characters: all of them up to 32, else the first and last
 * 16, so that a long reason costs no more than a short one. A fingerprint of the last four characters alone, as
 * here before, put all of a feed's reasons that end alike ("..., known bad") in one slot: on the intel benchmark's
 * CSV file (120 interleaved triples), the profile lookup then missed the cache most of the time and took 0.44 s of
 * the 1 M-line load.
 */
export function profileSlot(source: string, reason: string, tags: readonly string[]): number {
  let h = mixText(mixText(0x2545f491, reason), source);
  const n = tags.length < 4 ? tags.length : 4;
  for (let i = 0; i < n; i++) h = mixText(h, tags[i]!);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d) >>> (32 - PROFILE_CACHE_BITS);
}

function mixText(h: number, text: string): number {
  const n = text.length;
  h = Math.imul(h ^ n, 0x9e3779b1);
  if (n <= 32) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x85ebca6b);
  } else {
    for (let i = 0; i < 16; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x85ebca6b);
    for (let i = n - 16; i < n; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x85ebca6b);
  }
  return h;
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
