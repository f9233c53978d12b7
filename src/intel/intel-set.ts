/**
 * IntelSet: the one in-memory threat-intel set, read by the session matcher (hot path) and the HTTP API alike, and
 * changed one entry at a time (file loads, later a Redis change stream) while lookups continue.
 *
 * Structure
 * - Entry metadata lives in per-kind column stores (entry-store.ts): typed arrays indexed by entry, with source,
 *   reason and tag set interned into one 2-byte profile number (interner.ts).
 * - Lookup structures (lookup-index.ts) are typed-array open-addressed hash tables keyed by address / network /
 *   address+port, holding a packed (index, has-expiry, action) value of the key's "primary" entry. Other entries
 *   with the same key (same indicator from another source or id) are "shadows", kept in a side map that only
 *   changes and the cold fallback path read.
 * - Every change is O(1) amortised (table growth rehashes one table); nothing is rebuilt.
 *
 * Identity: an entry is (source, id); id defaults to the canonical indicator text (see entry.ts).
 *
 * PRECEDENCE for one endpoint (matchV4 / matchV6):
 *   1. If any live `allow` entry matches the endpoint (port-qualified, exact address, or a CIDR of ANY length), the
 *      result is an allow entry (the most specific such). Protected assets win over every block, so an allow /8
 *      beats a block /32 and an allow on 10.0.0.5 beats a block on 10.0.0.5:443/tcp.
 *   2. Otherwise the most specific live block-or-monitor entry decides, block and monitor alike:
 *         port+protocol (a.b.c.d:443/tcp) > port, any protocol (a.b.c.d:443) > exact address > longer prefix.
 *      So a monitor /32 inside a block /16 makes that host alert-only (a deliberate carve-out).
 *   3. Several entries with the same key: allow > block > monitor.
 *   Expired entries never match, whether or not expire() has run.
 * For a session (two endpoints) see decideSession() in precedence.ts: allow on either side wins, then block, then
 * monitor.
 */
import { ACTION_ALLOW, ACTION_BLOCK, ACTION_MONITOR, actionName, type IntelAction, INTEL_ACTIONS } from './action.js';
import { ContentDigest } from './digest.js';
import { prepareEntry, type IntelEntryInput, type PreparedEntry } from './entry.js';
import { EntryStore, FLAG_ACTION_MASK, FLAG_EXPLICIT_ID } from './entry-store.js';
import { IndicatorError } from './errors.js';
import { wallClockSeconds } from './expiry.js';
import { hashString } from './hash.js';
import { IdIndex } from './id-index.js';
import { formatIPv4, formatIPv6 } from '../net/address.js';
import { INDICATOR_KINDS, tryParseIndicator, type IndicatorKind, type ParsedIndicator, type PortProtocol } from './indicator.js';
import { detachString, ProfileTable } from './interner.js';
import {
  INDEX_BITS, INDEX_MASK, K_CIDR4, K_CIDR6, K_DOMAIN, K_PORT4, K_PORT6, K_V4, K_V6, KEY_WIDTH, KIND_COUNT, KIND_NAMES,
  kindIdOf, makeHandle, pack, PACK_EXPIRING, PROTOCOL_NAMES, protocolCode,
} from './kinds.js';
import { LookupIndex, MASK4, MASK6, ROUTE_EXACT, ROUTE_NONE, type IntelLookupView } from './lookup-index.js';
import type { U32Table } from './u32-table.js';
import type { WideTable } from './wide-table.js';

/**
 * Module-local copies of the imported constants that matchV4's single-probe path reads. An import is a live
 * binding: TurboFan reads it through its cell, with a hole check, at every use, where it folds a module's own
 * constants into the code (with u32-table.ts's local hashWord, 1.15 times the hits per second; test/bench/HISTORY.md,
 * session 20).
 */
const ONLY_EXACT = ROUTE_EXACT;
const NOTHING = ROUTE_NONE;
const EXPIRING = PACK_EXPIRING;
const V4_HANDLE_BASE = K_V4 << INDEX_BITS;

export interface IntelSetOptions {
  /** Wall clock in epoch seconds: anchors TTLs, and the lazy expiry check of lookups that pass no time. */
  readonly clock?: () => number;
  /** Host-bit policy for CIDR text given to upsert() (see indicator.ts). Default 'reject'. */
  readonly hostBits?: 'reject' | 'mask';
}

/** A readable copy of one entry (cold path: allocates). */
export interface IntelEntryView {
  readonly handle: number;
  readonly id: string;
  readonly source: string;
  /** Canonical indicator text. */
  readonly indicator: string;
  readonly kind: IndicatorKind;
  readonly action: IntelAction;
  /** Epoch seconds, or null for never. */
  readonly expiresAt: number | null;
  readonly reason: string;
  readonly tags: readonly string[];
}

export interface IntelCounts {
  readonly total: number;
  readonly byKind: Readonly<Record<IndicatorKind, number>>;
  readonly byAction: Readonly<Record<IntelAction, number>>;
  readonly byKindAndAction: Readonly<Record<IndicatorKind, Readonly<Record<IntelAction, number>>>>;
}

const IP_PROTO_TCP = 6;
/** Beyond any 32-bit expiry. */
const NO_EXPIRY = 0x100000000;
const IP_PROTO_UDP = 17;
/**
 * What a canonical indicator text can look like: lowercase, and a dot or a colon somewhere (every kind has one).
 * An id that fails this is no entry's default id, and is not parsed to find out: a failed parse builds an error
 * with its stack, which made a 1 M-line feed with ids such as "id-17" or UUIDs load in 13 s instead of 2.
 */
const INDICATOR_LIKE = /^(?=[^.:]*[.:])[0-9a-z.:[\]/-]{2,300}$/;

export class IntelSet {
  private readonly stores: EntryStore[] = [];
  private readonly index = new LookupIndex();
  private readonly profiles = new ProfileTable();
  /** Primary handle -> the other entries with the same key. */
  private readonly shadows = new Map<number, number[]>();
  /** Entries with an explicit id, by (source, id); default ids are found through the key. */
  private readonly idIndex = new IdIndex((handle, sourceId, id) => this.holdsId(handle, sourceId, id));
  /**
   * Explicit ids, per kind, by entry index (undefined for a default id). Arrays rather than one Map by handle:
   * entries are numbered densely, and a Map of a million numbers cost 0.5 s of a 1 M-line load with ids. A few ids
   * at high indices leave the array sparse, which V8 then keeps as a dictionary: no memory for the gaps.
   */
  private readonly explicitIds: (string | undefined)[][] = Array.from({ length: KIND_COUNT }, () => []);
  private readonly countByKindAction = new Int32Array(KIND_COUNT * 4);
  private readonly contentDigest = new ContentDigest();
  private changeVersion = 0;
  /**
   * lookupEpoch, in memory the session tracker's native intel screen reads at every packet (see lookupEpoch): so
   * that the engine need not compare epochs per packet in TypeScript. Wraps as an int32; only equality is used.
   */
  readonly epochWord = new Int32Array(1);
  /**
   * No entry expires before this time (epoch seconds; the earliest expiry-heap top, removed entries included, so
   * it is only ever early). Lookups at an earlier time skip the per-entry expiry read: one memory access per hit.
   */
  private safeUntil = NO_EXPIRY;
  /** What the last prefetchAll() read, folded: written so that those reads are not dropped (public: see there). */
  prefetched = 0;
  private readonly clock: () => number;
  private readonly hostBits: 'reject' | 'mask';
  // Hot-path aliases of the lookup tables (never replaced) and scratch keys.
  private readonly v4: U32Table;
  private readonly v6: WideTable;
  private readonly port4: WideTable;
  private readonly port6: WideTable;
  private readonly cidr4: U32Table[];
  private readonly cidr6: WideTable[];
  private readonly summary16: Int32Array;
  private readonly exact16: Uint8Array;
  private readonly route16: Uint8Array;
  private readonly key2 = new Int32Array(2);
  private readonly key4 = new Int32Array(4);
  private readonly key5 = new Int32Array(5);

  constructor(options: IntelSetOptions = {}) {
    this.clock = options.clock ?? wallClockSeconds;
    this.hostBits = options.hostBits ?? 'reject';
    for (let kind = 0; kind < KIND_COUNT; kind++) {
      this.stores.push(new EntryStore(kind, KEY_WIDTH[kind]!, {
        prefix: kind === K_CIDR4 || kind === K_CIDR6,
        strings: kind === K_DOMAIN,
      }));
    }
    this.v4 = this.index.v4;
    this.v6 = this.index.v6;
    this.port4 = this.index.port4;
    this.port6 = this.index.port6;
    this.cidr4 = this.index.cidr4;
    this.cidr6 = this.index.cidr6;
    this.summary16 = this.index.summary16;
    this.exact16 = this.index.exact16;
    this.route16 = this.index.route16;
  }

  /** Increases by one with every change: add, update, remove, expiry. */
  get version(): number {
    return this.changeVersion;
  }

  /**
   * Changes whenever what matchV4 and matchV6 read may have changed: with every change of entries (as `version`), and
   * when a lookup table's arrays are replaced or its incremental growth ends without one (reserve, maintain). What
   * tells a reader of lookupView() to take a fresh one (the native screen compares it with the epoch of its last
   * sync at every packet, through epochWord).
   */
  get lookupEpoch(): number {
    return this.epochWord[0]!;
  }

  private changed(): void {
    this.changeVersion++;
    this.epochWord[0]! += 1;
  }

  /** A lookup table's arrays were replaced or its growth ended: what matchV4 and matchV6 read moved. */
  private relaid(): void {
    this.epochWord[0]! += 1;
  }

  /** What matchV4 and matchV6 read, for the session tracker's native intel screen (see IntelLookupView). */
  lookupView(): IntelLookupView {
    return this.index.lookupView();
  }

  /** Number of live entries (expired entries count until expire() removes them). */
  get size(): number {
    let n = 0;
    for (const store of this.stores) n += store.live;
    return n;
  }

  /** Current time of the set's clock, epoch seconds. */
  now(): number {
    return this.clock();
  }

  // ------------------------------------------------------------------------------------------------ changes

  /**
   * Adds the entry, or replaces the entry with the same (source, id). Returns its handle. Throws IndicatorError /
   * IntelEntryError on bad input (the set is then unchanged).
   */
  upsert(input: IntelEntryInput, options: { nowSeconds?: number } = {}): number {
    const prepared = prepareEntry(input, { nowSeconds: options.nowSeconds ?? this.clock(), hostBits: this.hostBits });
    return this.upsertPrepared(prepared);
  }

  /** upsert() of an entry already validated by prepareEntry(). */
  upsertPrepared(entry: PreparedEntry): number {
    const existing = this.findIdentity(entry.source, entry.explicitId ?? entry.indicator.text, entry.explicitId === null ? entry.indicator : null);
    if (existing >= 0) this.removeEntry(existing);
    const handle = this.addEntry(entry);
    this.changed();
    return handle;
  }

  /**
   * Reads the table lines that upserting each of `entries` will read first, and changes nothing. A bulk load that
   * calls this for a batch (a few dozen entries) before upserting them in order has their cache misses overlap,
   * instead of waiting for each in turn: a third of a 1 M-line file load was such waits.
   */
  prefetchAll(entries: readonly PreparedEntry[]): void {
    let touched = 0;
    for (let i = 0; i < entries.length; i++) touched ^= this.prefetch(entries[i]!);
    this.prefetched = touched; // kept, so that the reads are not dropped as unused
  }

  /** What prefetchAll() read for one entry (its key's slot and filter word, its explicit id's), folded into a number. */
  private prefetch(entry: PreparedEntry): number {
    const kind = kindIdOf(entry.indicator);
    this.keyFromIndicator(kind, entry.indicator);
    let touched = this.index.touch(kind);
    if (entry.explicitId !== null) {
      const sourceId = this.profiles.sources.find(entry.source);
      if (sourceId >= 0) touched ^= this.idIndex.touch(sourceId, entry.explicitId);
    }
    return touched;
  }

  /** Removes the entry (source, id); returns whether there was one. */
  remove(source: string, id: string): boolean {
    const handle = this.findIdentity(source, id, null);
    if (handle < 0) return false;
    this.removeEntry(handle);
    this.changed();
    return true;
  }

  /** Removes the entry behind a handle; returns whether it was live. */
  removeHandle(handle: number): boolean {
    if (!this.isLive(handle)) return false;
    this.removeEntry(handle);
    this.changed();
    return true;
  }

  /**
   * Removes every entry whose expiry is at or before `nowSeconds` (default: the clock). Cost is proportional to the
   * number of expired entries (min-heap per kind), not to the size of the set. Returns how many were removed.
   */
  expire(nowSeconds: number = this.clock()): number {
    let removed = 0;
    for (let kind = 0; kind < KIND_COUNT; kind++) {
      const store = this.stores[kind]!;
      for (;;) {
        const top = store.heapPeek();
        if (top < 0 || store.expiry[top]! > nowSeconds) break;
        store.heapPop();
        if ((store.flags[top]! & FLAG_ACTION_MASK) === 0) continue; // was removed earlier; heapPop freed it
        this.removeEntry(makeHandle(kind, top));
        this.changed();
        removed++;
      }
    }
    this.safeUntil = this.earliestExpiry();
    return removed;
  }

  /**
   * Background work, bounded by `budget` table slots per growing table: finishes incremental table growth (which
   * otherwise advances only with changes, leaving a static set with two arrays and slower misses). Call it from an
   * idle timer, e.g. next to expire(); loaders call it after a load. Returns whether work remains.
   */
  maintain(budget = 1 << 16): boolean {
    const ids = this.idIndex.maintain(budget);
    const wasGrowing = this.index.lookupGrowing();
    const more = this.index.maintain(budget);
    if (wasGrowing && !this.index.lookupGrowing()) this.relaid();
    return more || ids;
  }

  /** Earliest expiry among entries (epoch seconds), or 0 when nothing expires: when to call expire() next. */
  nextExpiry(): number {
    const next = this.earliestExpiry();
    return next === NO_EXPIRY ? 0 : next;
  }

  /** Smallest expiry over the heap tops (a removed entry still parked there only makes it early), or NO_EXPIRY. */
  private earliestExpiry(): number {
    let next = NO_EXPIRY;
    for (const store of this.stores) {
      const top = store.heapPeek();
      if (top >= 0 && store.expiry[top]! < next) next = store.expiry[top]!;
    }
    return next;
  }

  /** Pre-sizes storage for `count` more entries of `kind` (for bulk loads of known size). */
  reserve(kind: IndicatorKind, count: number): void {
    this.relaid();
    for (const id of STORES_OF_KIND[kind]) {
      const store = this.stores[id]!;
      store.reserve(store.live + count);
      this.index.reserve(id, store.live + count);
    }
  }

  /**
   * Pre-sizes the lookup table of one CIDR prefix length for `count` more entries (reserve() sizes the kind's
   * entry storage, but cannot know how its entries spread over prefix lengths; a load's sample can).
   */
  reservePrefix(kind: 'cidr4' | 'cidr6', prefixLength: number, count: number): void {
    this.relaid();
    this.index.reservePrefix(STORES_OF_KIND[kind][0]!, prefixLength, count);
  }

  /** Pre-sizes the explicit-id index for `count` more entries with an explicit id. */
  reserveIds(count: number): void {
    this.idIndex.reserve(this.idIndex.size + count);
  }

  // ------------------------------------------------------------------------------------------------ hot path

  /**
   * Matches one IPv4 endpoint (unsigned address, port 0 = none, IP protocol number, e.g. 6 = TCP, 17 = UDP).
   * Returns the deciding entry's handle, or -1. Allocation-free. `nowSeconds` (epoch) is used for the expiry check;
   * when omitted the set's clock is read, and only if a candidate entry has an expiry at all.
   */
  matchV4(ip: number, port = 0, proto = 0, nowSeconds = -1): number {
    ip |= 0; // the tables hold keys as int32 (see U32Table)
    const route = this.route16[ip >>> 16]!;
    if (route === ONLY_EXACT) {
      // Only exact entries can match: one probe, in a function small enough to be inlined into the caller.
      const v = this.v4.get(ip);
      if (v === 0) return -1;
      // Answered here when the entry cannot have expired, so that the call to live() stays cold and TurboFan's
      // inlining budget for the caller goes to the table's get() (see U32Table.get).
      if ((v & EXPIRING) === 0 || (nowSeconds >= 0 && nowSeconds < this.safeUntil)) return V4_HANDLE_BASE | (v >>> 3);
      const live = this.live(K_V4, v, nowSeconds);
      return live === 0 ? -1 : V4_HANDLE_BASE | (live >>> 3);
    }
    return route === NOTHING ? -1 : this.matchV4General(ip, port, proto, nowSeconds);
  }

  /** matchV4 for an address in a /16 that a CIDR covers or that holds a port-qualified entry (route16). */
  private matchV4General(ip: number, port: number, proto: number, nowSeconds: number): number {
    let deny = -1;
    let v = 0;
    if (port !== 0 && this.port4.size !== 0) {
      const key = this.key2;
      key[0] = ip;
      const pc = proto === IP_PROTO_TCP ? 1 : proto === IP_PROTO_UDP ? 2 : 0;
      if (pc !== 0) {
        key[1] = port | (pc << 16);
        v = this.port4.get(key);
        if (v !== 0 && (v = this.live(K_PORT4, v, nowSeconds)) !== 0) {
          if ((v & 3) === ACTION_ALLOW) return (K_PORT4 << INDEX_BITS) | (v >>> 3);
          deny = (K_PORT4 << INDEX_BITS) | (v >>> 3);
        }
      }
      if (deny < 0 || this.index.allowCount[K_PORT4] !== 0) {
        key[1] = port;
        v = this.port4.get(key);
        if (v !== 0 && (v = this.live(K_PORT4, v, nowSeconds)) !== 0) {
          if ((v & 3) === ACTION_ALLOW) return (K_PORT4 << INDEX_BITS) | (v >>> 3);
          if (deny < 0) deny = (K_PORT4 << INDEX_BITS) | (v >>> 3);
        }
      }
    }
    if (this.exact16[ip >>> 16] !== 0 && (deny < 0 || this.index.allowCount[K_V4] !== 0)) {
      v = this.v4.get(ip);
      if (v !== 0 && (v = this.live(K_V4, v, nowSeconds)) !== 0) {
        if ((v & 3) === ACTION_ALLOW) return (K_V4 << INDEX_BITS) | (v >>> 3);
        if (deny < 0) deny = (K_V4 << INDEX_BITS) | (v >>> 3);
      }
    }
    // Longest prefix first, over the lengths present only; after a deny match, only lengths holding an allow.
    let mask = (deny < 0 ? this.index.cidr4Mask : this.index.cidr4AllowMask) & this.summary16[ip >>> 16]!;
    while (mask !== 0) {
      const len = 31 - Math.clz32(mask);
      mask ^= 1 << len;
      v = this.cidr4[len]!.get(ip & MASK4[len]!);
      if (v !== 0 && (v = this.live(K_CIDR4, v, nowSeconds)) !== 0) {
        if ((v & 3) === ACTION_ALLOW) return (K_CIDR4 << INDEX_BITS) | (v >>> 3);
        if (deny < 0) {
          deny = (K_CIDR4 << INDEX_BITS) | (v >>> 3);
          mask &= this.index.cidr4AllowMask;
        }
      }
    }
    return deny;
  }

  /** IPv6 counterpart of matchV4: address as four unsigned words, most significant first. */
  matchV6(w0: number, w1: number, w2: number, w3: number, port = 0, proto = 0, nowSeconds = -1): number {
    const present = this.index.cidr6Mask;
    if ((present[0]! | present[1]! | present[2]! | present[3]!) === 0 && (port === 0 || this.port6.size === 0)) {
      // Only exact entries can match: one probe (see matchV4).
      const key = this.key4;
      key[0] = w0;
      key[1] = w1;
      key[2] = w2;
      key[3] = w3;
      const v = this.v6.get(key);
      if (v === 0) return -1;
      const live = this.live(K_V6, v, nowSeconds);
      return live === 0 ? -1 : (K_V6 << INDEX_BITS) | (live >>> 3);
    }
    return this.matchV6General(w0, w1, w2, w3, port, proto, nowSeconds);
  }

  /** matchV6 when port-qualified or CIDR entries exist. */
  private matchV6General(w0: number, w1: number, w2: number, w3: number, port: number, proto: number, nowSeconds: number): number {
    let deny = -1;
    let v = 0;
    if (port !== 0 && this.port6.size !== 0) {
      const key = this.key5;
      key[0] = w0;
      key[1] = w1;
      key[2] = w2;
      key[3] = w3;
      const pc = proto === IP_PROTO_TCP ? 1 : proto === IP_PROTO_UDP ? 2 : 0;
      if (pc !== 0) {
        key[4] = port | (pc << 16);
        v = this.port6.get(key);
        if (v !== 0 && (v = this.live(K_PORT6, v, nowSeconds)) !== 0) {
          if ((v & 3) === ACTION_ALLOW) return (K_PORT6 << INDEX_BITS) | (v >>> 3);
          deny = (K_PORT6 << INDEX_BITS) | (v >>> 3);
        }
      }
      if (deny < 0 || this.index.allowCount[K_PORT6] !== 0) {
        key[4] = port;
        v = this.port6.get(key);
        if (v !== 0 && (v = this.live(K_PORT6, v, nowSeconds)) !== 0) {
          if ((v & 3) === ACTION_ALLOW) return (K_PORT6 << INDEX_BITS) | (v >>> 3);
          if (deny < 0) deny = (K_PORT6 << INDEX_BITS) | (v >>> 3);
        }
      }
    }
    const key = this.key4;
    if (this.v6.size !== 0 && (deny < 0 || this.index.allowCount[K_V6] !== 0)) {
      key[0] = w0;
      key[1] = w1;
      key[2] = w2;
      key[3] = w3;
      v = this.v6.get(key);
      if (v !== 0 && (v = this.live(K_V6, v, nowSeconds)) !== 0) {
        if ((v & 3) === ACTION_ALLOW) return (K_V6 << INDEX_BITS) | (v >>> 3);
        if (deny < 0) deny = (K_V6 << INDEX_BITS) | (v >>> 3);
      }
    }
    const present = this.index.cidr6Mask;
    const allowPresent = this.index.cidr6AllowMask;
    for (let word = 3; word >= 0; word--) {
      let mask = deny < 0 ? present[word]! : allowPresent[word]!;
      while (mask !== 0) {
        const bit = 31 - Math.clz32(mask);
        mask ^= 1 << bit;
        const len = (word << 5) | bit;
        const m = len << 2;
        key[0] = w0 & MASK6[m]!;
        key[1] = w1 & MASK6[m + 1]!;
        key[2] = w2 & MASK6[m + 2]!;
        key[3] = w3 & MASK6[m + 3]!;
        v = this.cidr6[len]!.get(key);
        if (v !== 0 && (v = this.live(K_CIDR6, v, nowSeconds)) !== 0) {
          if ((v & 3) === ACTION_ALLOW) return (K_CIDR6 << INDEX_BITS) | (v >>> 3);
          if (deny < 0) {
            deny = (K_CIDR6 << INDEX_BITS) | (v >>> 3);
            mask &= allowPresent[word]!;
          }
        }
      }
    }
    return deny;
  }

  /**
   * Cold path, for logging what an allow overrode: the most specific live block or monitor entry for one
   * IPv4 endpoint, ignoring allow entries (primaries and shadows alike). Handle or -1. Allocates.
   */
  overriddenV4(ip: number, port = 0, proto = 0): number {
    ip >>>= 0;
    const candidates: [number, number][] = [];
    const pc = proto === IP_PROTO_TCP ? 1 : proto === IP_PROTO_UDP ? 2 : 0;
    if (port !== 0 && this.port4.size !== 0) {
      const key = this.key2;
      key[0] = ip;
      if (pc !== 0) {
        key[1] = port | (pc << 16);
        candidates.push([K_PORT4, this.port4.get(key)]);
      }
      key[1] = port;
      candidates.push([K_PORT4, this.port4.get(key)]);
    }
    candidates.push([K_V4, this.v4.get(ip)]);
    for (let len = 31; len >= 0; len--) {
      if (this.index.cidr4Mask & (1 << len)) candidates.push([K_CIDR4, this.cidr4[len]!.get((ip & MASK4[len]!) >>> 0)]);
    }
    return this.firstNonAllow(candidates);
  }

  /** IPv6 counterpart of overriddenV4. */
  overriddenV6(w0: number, w1: number, w2: number, w3: number, port = 0, proto = 0): number {
    const candidates: [number, number][] = [];
    const pc = proto === IP_PROTO_TCP ? 1 : proto === IP_PROTO_UDP ? 2 : 0;
    if (port !== 0 && this.port6.size !== 0) {
      const key = this.key5;
      key[0] = w0;
      key[1] = w1;
      key[2] = w2;
      key[3] = w3;
      if (pc !== 0) {
        key[4] = port | (pc << 16);
        candidates.push([K_PORT6, this.port6.get(key)]);
      }
      key[4] = port;
      candidates.push([K_PORT6, this.port6.get(key)]);
    }
    const key = this.key4;
    key[0] = w0;
    key[1] = w1;
    key[2] = w2;
    key[3] = w3;
    candidates.push([K_V6, this.v6.get(key)]);
    const present = this.index.cidr6Mask;
    for (let len = 127; len >= 0; len--) {
      if (!(present[len >>> 5]! & (1 << (len & 31)))) continue;
      const m = len << 2;
      key[0] = w0 & MASK6[m]!;
      key[1] = w1 & MASK6[m + 1]!;
      key[2] = w2 & MASK6[m + 2]!;
      key[3] = w3 & MASK6[m + 3]!;
      candidates.push([K_CIDR6, this.cidr6[len]!.get(key)]);
    }
    return this.firstNonAllow(candidates);
  }

  /** In specificity order: the first key holding a live non-allow entry (primary or shadow), best action first. */
  private firstNonAllow(candidates: [number, number][]): number {
    const now = this.clock();
    for (const [kind, v] of candidates) {
      if (v === 0) continue;
      const store = this.stores[kind]!;
      const primary = v >>> 3;
      let best = -1;
      let bestAction = 0;
      for (const index of [primary, ...(this.shadows.get(makeHandle(kind, primary)) ?? []).map((h) => h & INDEX_MASK)]) {
        const expiry = store.expiry[index]!;
        if (expiry !== 0 && expiry <= now) continue;
        const action = store.flags[index]! & FLAG_ACTION_MASK;
        if (action !== ACTION_ALLOW && action > bestAction) {
          best = makeHandle(kind, index);
          bestAction = action;
        }
      }
      if (best >= 0) return best;
    }
    return -1;
  }

  /** IPv6 lookup from a word array (e.g. a decoder's Uint32Array), at `offset`. */
  matchV6Words(words: ArrayLike<number>, offset = 0, port = 0, proto = 0, nowSeconds = -1): number {
    return this.matchV6(words[offset]!, words[offset + 1]!, words[offset + 2]!, words[offset + 3]!, port, proto, nowSeconds);
  }

  /** Exact domain lookup (lower-case name without trailing dot). Suffix matching comes with domain support. */
  matchDomain(name: string, nowSeconds = -1): number {
    const v = this.index.domains.get(name) ?? 0;
    if (v === 0) return -1;
    const live = this.live(K_DOMAIN, v, nowSeconds);
    return live === 0 ? -1 : (K_DOMAIN << INDEX_BITS) | (live >>> 3);
  }

  /** The packed value itself if its entry is not expired at `now`, else the best live shadow's, else 0. */
  private live(kind: number, v: number, nowSeconds: number): number {
    if ((v & PACK_EXPIRING) === 0) return v;
    const now = nowSeconds >= 0 ? nowSeconds : this.clock();
    if (now < this.safeUntil || this.stores[kind]!.expiry[v >>> 3]! > now) return v;
    return this.liveShadow(kind, v >>> 3, now);
  }

  /** Cold path: the primary of a key has expired but expire() has not run; look among the key's other entries. */
  private liveShadow(kind: number, primary: number, now: number): number {
    const list = this.shadows.get(makeHandle(kind, primary));
    if (list === undefined) return 0;
    const store = this.stores[kind]!;
    let best = 0;
    for (const handle of list) {
      const index = handle & INDEX_MASK;
      const expiry = store.expiry[index]!;
      if (expiry !== 0 && expiry <= now) continue;
      const action = store.flags[index]! & FLAG_ACTION_MASK;
      if (action > (best & 3)) best = pack(index, expiry !== 0, action);
    }
    return best;
  }

  // ------------------------------------------------------------------------------------------------ accessors

  isLive(handle: number): boolean {
    if (!Number.isInteger(handle) || handle < 0) return false;
    const store = this.stores[handle >>> INDEX_BITS];
    const index = handle & INDEX_MASK;
    return store !== undefined && index < store.top && (store.flags[index]! & FLAG_ACTION_MASK) !== 0;
  }

  /** 1 = monitor, 2 = block, 3 = allow (ordered by precedence); 0 for a dead handle. */
  actionCodeOf(handle: number): number {
    return this.stores[handle >>> INDEX_BITS]!.flags[handle & INDEX_MASK]! & FLAG_ACTION_MASK;
  }

  actionOf(handle: number): IntelAction {
    return actionName(this.actionCodeOf(handle));
  }

  kindOf(handle: number): IndicatorKind {
    return KIND_NAMES[handle >>> INDEX_BITS]!;
  }

  /** Epoch seconds, 0 = never. */
  expiresAt(handle: number): number {
    return this.stores[handle >>> INDEX_BITS]!.expiry[handle & INDEX_MASK]!;
  }

  sourceOf(handle: number): string {
    return this.profiles.source(this.profileOf(handle));
  }

  reasonOf(handle: number): string {
    return this.profiles.reason(this.profileOf(handle));
  }

  tagsOf(handle: number): readonly string[] {
    return this.profiles.tags(this.profileOf(handle));
  }

  /** Entry id (builds the canonical indicator text for default ids). */
  idOf(handle: number): string {
    const kind = handle >>> INDEX_BITS;
    const index = handle & INDEX_MASK;
    if ((this.stores[kind]!.flags[index]! & FLAG_EXPLICIT_ID) !== 0) return this.explicitIds[kind]![index]!;
    return this.indicatorOf(handle);
  }

  /** Canonical indicator text of the entry. */
  indicatorOf(handle: number): string {
    const kind = handle >>> INDEX_BITS;
    const index = handle & INDEX_MASK;
    const store = this.stores[kind]!;
    const k = store.keys;
    const w = store.keyWidth;
    const base = index * w;
    switch (kind) {
      case K_V4: return formatIPv4(k[base]!);
      case K_CIDR4: return `${formatIPv4(k[base]!)}/${store.prefix![index]}`;
      case K_V6: return formatIPv6(k[base]!, k[base + 1]!, k[base + 2]!, k[base + 3]!);
      case K_CIDR6: return `${formatIPv6(k[base]!, k[base + 1]!, k[base + 2]!, k[base + 3]!)}/${store.prefix![index]}`;
      case K_PORT4: return `${formatIPv4(k[base]!)}:${portSuffix(k[base + 1]!)}`;
      case K_PORT6: return `[${formatIPv6(k[base]!, k[base + 1]!, k[base + 2]!, k[base + 3]!)}]:${portSuffix(k[base + 4]!)}`;
      default: return store.strings![index]!;
    }
  }

  /** Prefix length of the entry (32 / 128 for addresses and ip-port, 0 for domains). */
  prefixLengthOf(handle: number): number {
    const kind = handle >>> INDEX_BITS;
    if (kind === K_CIDR4 || kind === K_CIDR6) return this.stores[kind]!.prefix![handle & INDEX_MASK]!;
    return kind === K_V4 || kind === K_PORT4 ? 32 : kind === K_DOMAIN ? 0 : 128;
  }

  /** Port of an ip-port entry, 0 otherwise. */
  portOf(handle: number): number {
    const word = this.portWord(handle);
    return word < 0 ? 0 : word & 0xffff;
  }

  protocolOf(handle: number): PortProtocol {
    const word = this.portWord(handle);
    return word < 0 ? 'any' : PROTOCOL_NAMES[word >>> 16]!;
  }

  /** Copy of the entry (cold path). */
  entry(handle: number): IntelEntryView {
    if (!this.isLive(handle)) throw new RangeError(`handle ${handle} names no live entry`);
    const expires = this.expiresAt(handle);
    return {
      handle,
      id: this.idOf(handle),
      source: this.sourceOf(handle),
      indicator: this.indicatorOf(handle),
      kind: this.kindOf(handle),
      action: this.actionOf(handle),
      expiresAt: expires === 0 ? null : expires,
      reason: this.reasonOf(handle),
      tags: this.tagsOf(handle),
    };
  }

  /** Handle of the entry (source, id), or -1. */
  find(source: string, id: string): number {
    return this.findIdentity(source, id, null);
  }

  /** Every live entry (expired ones included until expire() runs). Do not change the set while iterating. */
  *entries(): IterableIterator<IntelEntryView> {
    for (let kind = 0; kind < KIND_COUNT; kind++) {
      const store = this.stores[kind]!;
      for (let index = 0; index < store.top; index++) {
        if ((store.flags[index]! & FLAG_ACTION_MASK) !== 0) yield this.entry(makeHandle(kind, index));
      }
    }
  }

  counts(): IntelCounts {
    const zero = (): Record<IntelAction, number> => ({ block: 0, monitor: 0, allow: 0 });
    const byKind = Object.fromEntries(INDICATOR_KINDS.map((k) => [k, 0])) as Record<IndicatorKind, number>;
    const byKindAndAction = Object.fromEntries(INDICATOR_KINDS.map((k) => [k, zero()])) as Record<IndicatorKind, Record<IntelAction, number>>;
    const byAction = zero();
    let total = 0;
    for (let kind = 0; kind < KIND_COUNT; kind++) {
      const name = KIND_NAMES[kind]!;
      for (const action of INTEL_ACTIONS) {
        const code = action === 'allow' ? ACTION_ALLOW : action === 'block' ? ACTION_BLOCK : ACTION_MONITOR;
        const n = this.countByKindAction[kind * 4 + code]!;
        byKind[name] += n;
        byAction[action] += n;
        byKindAndAction[name][action] += n;
        total += n;
      }
    }
    return { total, byKind, byAction, byKindAndAction };
  }

  /**
   * Order-independent content digest of all live entries (16 hex digits): sensors holding the same entries print
   * the same digest, whatever order the changes reached them in. Expired-but-not-yet-removed entries count.
   */
  digest(): string {
    return this.contentDigest.hex();
  }

  /** Bytes held in typed arrays (entry columns, expiry heaps, lookup tables); excludes interned strings and maps. */
  get typedArrayBytes(): number {
    let n = this.index.byteLength + this.idIndex.byteLength;
    for (const store of this.stores) n += store.byteLength;
    return n;
  }

  /** Distinct (source, reason, tags) profiles, for diagnostics. */
  get profileCount(): number {
    return this.profiles.size;
  }

  // ------------------------------------------------------------------------------------------------ internals

  private profileOf(handle: number): number {
    return this.stores[handle >>> INDEX_BITS]!.profile[handle & INDEX_MASK]!;
  }

  private portWord(handle: number): number {
    const kind = handle >>> INDEX_BITS;
    const index = handle & INDEX_MASK;
    if (kind === K_PORT4) return this.stores[kind]!.keys[index * 2 + 1]!;
    if (kind === K_PORT6) return this.stores[kind]!.keys[index * 5 + 4]!;
    return -1;
  }

  private addEntry(entry: PreparedEntry): number {
    const indicator = entry.indicator;
    const kind = kindIdOf(indicator);
    const store = this.stores[kind]!;
    const index = store.alloc();
    this.keyFromIndicator(kind, indicator);
    const w = store.keyWidth;
    const key = this.index.key;
    for (let k = 0; k < w; k++) store.keys[index * w + k] = key[k]!;
    if (store.prefix) store.prefix[index] = indicator.prefixLength;
    if (store.strings) store.strings[index] = detachString(indicator.domain);
    const profile = this.profiles.acquire(entry.source, entry.reason, entry.tags, entry.profileSlot);
    store.setProfile(index, profile);
    store.expiry[index] = entry.expiresAt;
    store.flags[index] = entry.actionCode | (entry.explicitId !== null ? FLAG_EXPLICIT_ID : 0);
    if (entry.expiresAt !== 0) {
      store.heapPush(index);
      if (entry.expiresAt < this.safeUntil) this.safeUntil = entry.expiresAt;
    }
    const handle = makeHandle(kind, index);
    if (entry.explicitId !== null) {
      const id = detachString(entry.explicitId);
      this.explicitIds[kind]![index] = id;
      this.idIndex.add(this.profiles.sourceId(profile), id, handle);
    }
    this.link(kind, index);
    this.countByKindAction[kind * 4 + entry.actionCode]!++;
    this.hashEntry(kind, index);
    this.contentDigest.commit(1);
    return handle;
  }

  private removeEntry(handle: number): void {
    const kind = handle >>> INDEX_BITS;
    const index = handle & INDEX_MASK;
    const store = this.stores[kind]!;
    const flags = store.flags[index]!;
    this.hashEntry(kind, index);
    this.contentDigest.commit(-1);
    this.keyFromEntry(kind, index);
    this.unlink(kind, index);
    const profile = store.profile[index]!;
    if ((flags & FLAG_EXPLICIT_ID) !== 0) {
      const explicit = this.explicitIds[kind]!;
      const id = explicit[index]!;
      explicit[index] = undefined;
      this.idIndex.delete(this.profiles.sourceId(profile), id, handle);
    }
    this.countByKindAction[kind * 4 + (flags & FLAG_ACTION_MASK)]!--;
    this.profiles.release(profile);
    store.release(index);
    if (store.heapNeedsCompaction()) {
      store.compactHeap();
      this.safeUntil = this.earliestExpiry();
    }
  }

  /** Puts entry `index` (whose key is in the scratch key) into the lookup index: as primary or as a shadow. */
  private link(kind: number, index: number): void {
    const store = this.stores[kind]!;
    const action = store.flags[index]! & FLAG_ACTION_MASK;
    const packed = pack(index, store.expiry[index] !== 0, action);
    const existing = this.index.get(kind);
    if (existing === 0) {
      this.index.set(kind, packed);
    } else {
      const primary = makeHandle(kind, existing >>> 3);
      const handle = makeHandle(kind, index);
      let list = this.shadows.get(primary);
      if (action > (existing & 3)) {
        // Stronger action takes over the key: allow > block > monitor.
        if (list === undefined) list = [];
        else this.shadows.delete(primary);
        list.push(primary);
        this.shadows.set(handle, list);
        this.index.set(kind, packed);
      } else {
        if (list === undefined) this.shadows.set(primary, (list = []));
        list.push(handle);
      }
    }
    if (action === ACTION_ALLOW) this.index.countAllow(kind, 1);
  }

  /** Takes entry `index` (whose key is in the scratch key) out of the lookup index, promoting a shadow if any. */
  private unlink(kind: number, index: number): void {
    const store = this.stores[kind]!;
    const existing = this.index.get(kind);
    const handle = makeHandle(kind, index);
    if (existing >>> 3 === index) {
      const list = this.shadows.get(handle);
      if (list === undefined) {
        this.index.delete(kind);
      } else {
        this.shadows.delete(handle);
        let best = 0;
        let bestAction = 0;
        for (let i = 0; i < list.length; i++) {
          const action = store.flags[list[i]! & INDEX_MASK]! & FLAG_ACTION_MASK;
          if (action > bestAction) {
            bestAction = action;
            best = i;
          }
        }
        const next = list[best]!;
        list.splice(best, 1);
        if (list.length > 0) this.shadows.set(next, list);
        const nextIndex = next & INDEX_MASK;
        this.index.set(kind, pack(nextIndex, store.expiry[nextIndex] !== 0, bestAction));
      }
    } else {
      const primary = makeHandle(kind, existing >>> 3);
      const list = this.shadows.get(primary)!;
      list.splice(list.indexOf(handle), 1);
      if (list.length === 0) this.shadows.delete(primary);
    }
    if ((store.flags[index]! & FLAG_ACTION_MASK) === ACTION_ALLOW) this.index.countAllow(kind, -1);
  }

  /** Finds the entry (source, id). `derived` is the indicator when the id is known to be a default id. */
  private findIdentity(source: string, id: string, derived: ParsedIndicator | null): number {
    const sourceId = this.profiles.sources.find(source);
    if (sourceId < 0) return -1;
    if (this.idIndex.size !== 0) {
      const explicit = this.idIndex.get(sourceId, id);
      if (explicit >= 0) return explicit;
    }
    let indicator = derived;
    if (indicator === null) {
      // A default id is the canonical indicator text: find the entry through the lookup index.
      if (!INDICATOR_LIKE.test(id)) return -1;
      const parsed = tryParseIndicator(id);
      if (parsed instanceof IndicatorError || parsed.text !== id) return -1;
      indicator = parsed;
    }
    const kind = kindIdOf(indicator);
    this.keyFromIndicator(kind, indicator);
    const v = this.index.get(kind);
    if (v === 0) return -1;
    const primary = v >>> 3;
    if (this.isDerivedFrom(kind, primary, sourceId)) return makeHandle(kind, primary);
    const list = this.shadows.get(makeHandle(kind, primary));
    if (list) for (const handle of list) if (this.isDerivedFrom(kind, handle & INDEX_MASK, sourceId)) return handle;
    return -1;
  }

  /** Whether entry `handle` has explicit id `id` and comes from source `sourceId` (for the id index). */
  private holdsId(handle: number, sourceId: number, id: string): boolean {
    const kind = handle >>> INDEX_BITS;
    const index = handle & INDEX_MASK;
    return this.explicitIds[kind]![index] === id && this.profiles.sourceId(this.stores[kind]!.profile[index]!) === sourceId;
  }

  /** Whether entry `index` has a default id and comes from source `sourceId`. */
  private isDerivedFrom(kind: number, index: number, sourceId: number): boolean {
    const store = this.stores[kind]!;
    return (store.flags[index]! & FLAG_EXPLICIT_ID) === 0 && this.profiles.sourceId(store.profile[index]!) === sourceId;
  }

  private keyFromIndicator(kind: number, indicator: ParsedIndicator): void {
    const key = this.index.key;
    if (indicator.family === 4) {
      key[0] = indicator.v4;
    } else if (indicator.family === 6) {
      const v6 = indicator.v6!;
      key[0] = v6[0]!;
      key[1] = v6[1]!;
      key[2] = v6[2]!;
      key[3] = v6[3]!;
    }
    if (kind === K_PORT4) key[1] = indicator.port | (protocolCode(indicator.protocol) << 16);
    else if (kind === K_PORT6) key[4] = indicator.port | (protocolCode(indicator.protocol) << 16);
    this.index.keyPrefix = indicator.prefixLength;
    this.index.keyDomain = indicator.domain;
  }

  private keyFromEntry(kind: number, index: number): void {
    const store = this.stores[kind]!;
    const key = this.index.key;
    const w = store.keyWidth;
    for (let k = 0; k < w; k++) key[k] = store.keys[index * w + k]!;
    this.index.keyPrefix = store.prefix ? store.prefix[index]! : 0;
    this.index.keyDomain = store.strings ? store.strings[index]! : '';
  }

  /** Feeds entry `index`'s content into the digest's entry hash. */
  private hashEntry(kind: number, index: number): void {
    const store = this.stores[kind]!;
    const d = this.contentDigest;
    const profile = store.profile[index]!;
    const flags = store.flags[index]!;
    d.begin();
    d.word(kind);
    const w = store.keyWidth;
    for (let k = 0; k < w; k++) d.word(store.keys[index * w + k]!);
    if (store.prefix) d.word(store.prefix[index]!);
    if (store.strings) d.word(hashString(store.strings[index]!));
    d.word(flags & FLAG_ACTION_MASK);
    d.word(store.expiry[index]!);
    d.word(this.profiles.sourceHash(profile));
    d.word(this.profiles.reasonHash(profile));
    d.word(this.profiles.tagsHash(profile));
    d.word((flags & FLAG_EXPLICIT_ID) !== 0 ? hashString(this.explicitIds[kind]![index]!) : 0);
  }
}

const STORES_OF_KIND: Readonly<Record<IndicatorKind, readonly number[]>> = {
  ipv4: [K_V4], ipv6: [K_V6], cidr4: [K_CIDR4], cidr6: [K_CIDR6], 'ip-port': [K_PORT4, K_PORT6], domain: [K_DOMAIN],
};

function portSuffix(word: number): string {
  const protocol = PROTOCOL_NAMES[word >>> 16]!;
  return protocol === 'any' ? String(word & 0xffff) : `${word & 0xffff}/${protocol}`;
}
