/**
 * The lookup structures, apart from entry metadata: one hash table per indicator kind and, for CIDRs, one per
 * prefix length present, plus bitmasks of the lengths present (all entries / allow entries) so that longest-prefix
 * match probes only lengths that exist, longest first.
 *
 * Every table maps a key to the packed value of the key's primary entry (see kinds.ts `pack`). Keys of the
 * multi-word tables are passed through `key`, a scratch array owned by this index (no allocation per call).
 *
 * Key layouts:  ipv4 [addr]   cidr4 [network] in table[len]   ipv6 [w0..w3]   cidr6 [w0..w3 network] in table[len]
 *               ip-port v4 [addr, port | proto << 16]           ip-port v6 [w0..w3, port | proto << 16]
 *               domain: the name, in a Map (domain matching comes later and is not on the packet hot path).
 */
import { maskV4, maskV6Word } from './indicator.js';
import { K_CIDR4, K_CIDR6, K_PORT4, K_PORT6, K_V4, K_V6, KIND_COUNT } from './kinds.js';
import { U32Table, type U32TableView } from './u32-table.js';
import { WideTable, type WideTableView } from './wide-table.js';

/** MASK4[len] = IPv4 netmask as a signed 32-bit value (for `&` in the hot path). */
export const MASK4 = new Int32Array(33);
/** MASK6[len * 4 + w] = mask of IPv6 word w for prefix length len. */
export const MASK6 = new Uint32Array(129 * 4);
for (let len = 0; len <= 32; len++) MASK4[len] = maskV4(len) | 0;
for (let len = 0; len <= 128; len++) for (let w = 0; w < 4; w++) MASK6[len * 4 + w] = maskV6Word(len, w);

/**
 * What IntelSet.matchV4 and matchV6 read, for a reader outside TypeScript (the session tracker's intel screen,
 * native-bindings/src/intel_screen.cc): the /16 summaries, the current arrays of the exact, port and CIDR tables, and
 * the scalars. Valid until the set's lookupEpoch changes; while `growing`, keys also sit in arrays the
 * views leave out, and such a reader must not conclude that a key is absent.
 */
export interface IntelLookupView {
  readonly exact16: Uint8Array;
  readonly summary16: Int32Array;
  readonly v4: U32TableView;
  readonly port4: WideTableView;
  /** cidr4[len] for len 0..31. */
  readonly cidr4: readonly U32TableView[];
  readonly cidr4Mask: number;
  readonly port4Size: number;
  readonly v6: WideTableView;
  readonly port6: WideTableView;
  /** cidr6[len] for len 0..127. */
  readonly cidr6: readonly WideTableView[];
  /** Bit len % 32 of word len >> 5: prefix length len present. */
  readonly cidr6Mask: readonly number[];
  readonly v6Size: number;
  readonly port6Size: number;
  readonly growing: boolean;
}

/** route16 values (see LookupIndex.route16). */
export const ROUTE_NONE = 0;
export const ROUTE_EXACT = 1;
export const ROUTE_GENERAL = 2;

export class LookupIndex {
  readonly v4 = new U32Table();
  readonly v6 = new WideTable(4);
  readonly port4 = new WideTable(2);
  readonly port6 = new WideTable(5);
  /** cidr4[len] for len 0..31 (a /32 is an ipv4 entry). */
  readonly cidr4: U32Table[] = [];
  /** cidr6[len] for len 0..127 (a /128 is an ipv6 entry). */
  readonly cidr6: WideTable[] = [];
  readonly domains = new Map<string, number>();

  /** Bit len set when cidr4[len] holds any key. Signed 32-bit. */
  cidr4Mask = 0;
  /** Bit len set when cidr4[len] holds an allow entry. */
  cidr4AllowMask = 0;
  /** Word w, bit b: prefix length 32w + b present. */
  readonly cidr6Mask = new Int32Array(4);
  readonly cidr6AllowMask = new Int32Array(4);
  /**
   * IPv4 CIDR summary by /16: summary16[top 16 bits of an address] has bit len set when some cidr4 key of length
   * len could cover addresses of that /16 (len >= 16: a key inside it; len < 16: a key covering it). matchV4 ANDs
   * it into the length mask, so a lookup probes only the lengths present near the address instead of every
   * length present anywhere: with a few thousand CIDRs most lookups probe none. 256 KiB, plus 4 MiB of per-(/16,
   * length) key counts allocated with the first CIDR.
   */
  readonly summary16 = new Int32Array(65536);
  private summaryCounts: Uint16Array | null = null;
  /**
   * IPv4 exact summary by /16: exact16[top 16 bits of an address] is 1 when some ipv4 exact key lies in that /16.
   * Threat intel lists public addresses, so the internal side of a session (RFC 1918 space, the organisation's
   * own ranges) almost never shares a /16 with an exact indicator: there matchV4 answers from this 64 KiB array,
   * which the /16s a network actually uses keep in cache, instead of the miss filter's line, which at 1 M keys is
   * a cache miss whenever the session table has pushed it out. Counts per /16 (cold) keep it exact under deletes.
   */
  readonly exact16 = new Uint8Array(65536);
  private readonly exact16Counts = new Int32Array(65536);
  /**
   * Which path matchV4 takes for an address, by /16: ROUTE_NONE when no entry of any kind can match there,
   * ROUTE_EXACT when only ipv4 exact entries can (one probe of `v4`), ROUTE_GENERAL when a CIDR covers the /16 or a
   * port-qualified entry lies in it. One byte read decides, where a set-wide test ("no CIDR and no port entry
   * anywhere") sent every lookup of a set with a single CIDR down the general path, and cost two reads through
   * other objects even in a set without any. Kept from exact16, summary16 and the per-/16 port-entry counts.
   */
  readonly route16 = new Uint8Array(65536);
  /** ip-port v4 keys per /16, allocated with the first one. */
  private port16Counts: Int32Array | null = null;
  /** Allow entries per kind, and per prefix length for CIDRs (shadowed ones included). */
  readonly allowCount = new Int32Array(KIND_COUNT);
  private readonly cidr4Allow = new Int32Array(32);
  private readonly cidr6Allow = new Int32Array(128);

  /** Scratch key for the operations below: words, prefix length, or domain name. */
  readonly key = new Int32Array(5);
  keyPrefix = 0;
  keyDomain = '';

  constructor() {
    for (let len = 0; len < 32; len++) this.cidr4.push(new U32Table());
    for (let len = 0; len < 128; len++) this.cidr6.push(new WideTable(4));
  }

  /** Packed value stored for the scratch key of `kind`, or 0. */
  get(kind: number): number {
    switch (kind) {
      case K_V4: return this.v4.get(this.key[0]!);
      case K_V6: return this.v6.get(this.key);
      case K_CIDR4: return this.cidr4[this.keyPrefix]!.get(this.key[0]!);
      case K_CIDR6: return this.cidr6[this.keyPrefix]!.get(this.key);
      case K_PORT4: return this.port4.get(this.key);
      case K_PORT6: return this.port6.get(this.key);
      default: return this.domains.get(this.keyDomain) ?? 0;
    }
  }

  /** Reads the lines a get() or set() of the scratch key of `kind` will read first (see U32Table.touch). */
  touch(kind: number): number {
    switch (kind) {
      case K_V4: return this.v4.touch(this.key[0]!);
      case K_V6: return this.v6.touch(this.key);
      case K_CIDR4: return this.cidr4[this.keyPrefix]!.touch(this.key[0]!);
      case K_CIDR6: return this.cidr6[this.keyPrefix]!.touch(this.key);
      case K_PORT4: return this.port4.touch(this.key);
      case K_PORT6: return this.port6.touch(this.key);
      default: return 0; // domains live in a Map
    }
  }

  /** Sets (inserts or overwrites) the scratch key of `kind`. */
  set(kind: number, packed: number): void {
    switch (kind) {
      case K_V4: {
        const before = this.v4.size;
        this.v4.set(this.key[0]!, packed);
        if (this.v4.size !== before) this.countExact(this.key[0]!, 1);
        break;
      }
      case K_V6: this.v6.set(this.key, packed); break;
      case K_CIDR4: {
        const len = this.keyPrefix;
        const table = this.cidr4[len]!;
        const before = table.size;
        table.set(this.key[0]!, packed);
        if (table.size !== before) this.summarise(this.key[0]!, len, 1);
        this.cidr4Mask |= 1 << len;
        break;
      }
      case K_CIDR6: {
        const len = this.keyPrefix;
        this.cidr6[len]!.set(this.key, packed);
        this.cidr6Mask[len >>> 5]! |= 1 << (len & 31);
        break;
      }
      case K_PORT4: {
        const before = this.port4.size;
        this.port4.set(this.key, packed);
        if (this.port4.size !== before) this.countPort(this.key[0]!, 1);
        break;
      }
      case K_PORT6: this.port6.set(this.key, packed); break;
      default: this.domains.set(this.keyDomain, packed);
    }
  }

  delete(kind: number): void {
    switch (kind) {
      case K_V4:
        if (this.v4.delete(this.key[0]!)) this.countExact(this.key[0]!, -1);
        break;
      case K_V6: this.v6.delete(this.key); break;
      case K_CIDR4: {
        const len = this.keyPrefix;
        const table = this.cidr4[len]!;
        if (table.delete(this.key[0]!)) this.summarise(this.key[0]!, len, -1);
        if (table.size === 0) this.cidr4Mask &= ~(1 << len);
        break;
      }
      case K_CIDR6: {
        const len = this.keyPrefix;
        const table = this.cidr6[len]!;
        table.delete(this.key);
        if (table.size === 0) this.cidr6Mask[len >>> 5]! &= ~(1 << (len & 31));
        break;
      }
      case K_PORT4:
        if (this.port4.delete(this.key)) this.countPort(this.key[0]!, -1);
        break;
      case K_PORT6: this.port6.delete(this.key); break;
      default: this.domains.delete(this.keyDomain);
    }
  }

  /** Adds (+1) or removes (-1) one ipv4 exact key at `address` in the /16 summary. */
  private countExact(address: number, delta: number): void {
    const slot = address >>> 16;
    const n = (this.exact16Counts[slot]! += delta);
    this.exact16[slot] = n > 0 ? 1 : 0;
    this.reroute(slot);
  }

  /** Adds (+1) or removes (-1) one ip-port v4 key at `address` in the /16 counts. */
  private countPort(address: number, delta: number): void {
    const counts = (this.port16Counts ??= new Int32Array(65536));
    const slot = address >>> 16;
    counts[slot]! += delta;
    this.reroute(slot);
  }

  /** Recomputes route16 for one /16 from what lies in it. */
  private reroute(slot: number): void {
    const general = this.summary16[slot] !== 0 || (this.port16Counts !== null && this.port16Counts[slot] !== 0);
    this.route16[slot] = general ? ROUTE_GENERAL : this.exact16[slot] !== 0 ? ROUTE_EXACT : ROUTE_NONE;
  }

  /** Adds (+1) or removes (-1) one cidr4 key of length `len` at `network` from the /16 summary. */
  private summarise(network: number, len: number, delta: number): void {
    const counts = (this.summaryCounts ??= new Uint16Array(65536 * 32));
    const first = network >>> 16;
    const last = len >= 16 ? first : first + (1 << (16 - len)) - 1;
    const bit = 1 << len;
    for (let slot = first; slot <= last; slot++) {
      const at = slot * 32 + len;
      const n = (counts[at] = counts[at]! + delta);
      if (n === 0) this.summary16[slot]! &= ~bit;
      else this.summary16[slot]! |= bit;
      this.reroute(slot);
    }
  }

  /** Counts an allow entry in or out (delta +1 / -1) at the scratch key's kind and prefix length. */
  countAllow(kind: number, delta: number): void {
    this.allowCount[kind]! += delta;
    if (kind === K_CIDR4) {
      const len = this.keyPrefix;
      const n = (this.cidr4Allow[len]! += delta);
      if (n > 0) this.cidr4AllowMask |= 1 << len;
      else this.cidr4AllowMask &= ~(1 << len);
    } else if (kind === K_CIDR6) {
      const len = this.keyPrefix;
      const n = (this.cidr6Allow[len]! += delta);
      if (n > 0) this.cidr6AllowMask[len >>> 5]! |= 1 << (len & 31);
      else this.cidr6AllowMask[len >>> 5]! &= ~(1 << (len & 31));
    }
  }

  /** Pre-sizes the table of `kind` (exact and port kinds) for `count` keys. */
  reserve(kind: number, count: number): void {
    if (kind === K_V4) this.v4.reserve(count);
    else if (kind === K_V6) this.v6.reserve(count);
    else if (kind === K_PORT4) this.port4.reserve(count);
    else if (kind === K_PORT6) this.port6.reserve(count);
  }

  /** Makes room for `count` more keys in the table of one CIDR prefix length (K_CIDR4 or K_CIDR6). */
  reservePrefix(kind: number, prefixLength: number, count: number): void {
    const table = kind === K_CIDR4 ? this.cidr4[prefixLength] : kind === K_CIDR6 ? this.cidr6[prefixLength] : undefined;
    if (table !== undefined) table.reserve(table.size + count);
  }

  /**
   * Background work: moves up to `budget` slots of every table still draining an old array after growth.
   * Returns whether any table is still growing.
   */
  maintain(budget: number): boolean {
    let more = false;
    const step = (t: U32Table | WideTable): void => {
      if (t.growing && t.advance(budget)) more = true;
    };
    step(this.v4);
    step(this.v6);
    step(this.port4);
    step(this.port6);
    for (const t of this.cidr4) step(t);
    for (const t of this.cidr6) step(t);
    return more;
  }

  /** Whether a table matchV4 or matchV6 reads is growing (keys in an old array as well). */
  lookupGrowing(): boolean {
    if (this.v4.growing || this.port4.growing || this.v6.growing || this.port6.growing) return true;
    for (const t of this.cidr4) if (t.growing) return true;
    for (const t of this.cidr6) if (t.growing) return true;
    return false;
  }

  lookupView(): IntelLookupView {
    return {
      exact16: this.exact16,
      summary16: this.summary16,
      v4: this.v4.nativeView,
      port4: this.port4.nativeView,
      cidr4: this.cidr4.map((t) => t.nativeView),
      cidr4Mask: this.cidr4Mask,
      port4Size: this.port4.size,
      v6: this.v6.nativeView,
      port6: this.port6.nativeView,
      cidr6: this.cidr6.map((t) => t.nativeView),
      cidr6Mask: Array.from(this.cidr6Mask),
      v6Size: this.v6.size,
      port6Size: this.port6.size,
      growing: this.lookupGrowing(),
    };
  }

  get byteLength(): number {
    let n = this.v4.byteLength + this.v6.byteLength + this.port4.byteLength + this.port6.byteLength +
      this.summary16.byteLength + this.exact16.byteLength + this.exact16Counts.byteLength + this.route16.byteLength +
      (this.summaryCounts ? this.summaryCounts.byteLength : 0) + (this.port16Counts ? this.port16Counts.byteLength : 0);
    for (const t of this.cidr4) n += t.byteLength;
    for (const t of this.cidr6) n += t.byteLength;
    return n;
  }
}
