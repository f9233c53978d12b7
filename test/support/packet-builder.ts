/**
 * Hand-built packets and capture files for the unit tests.
 *
 * Every builder returns a fresh Uint8Array in network byte order; lengths and checksums are computed unless a
 * field is explicitly overridden (which is how the tests build malformed packets). The capture-file writers
 * return the bytes plus the byte offset of every record/block so that tests can assert exact error offsets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ByteLike = Uint8Array | readonly number[];

// ---------------------------------------------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------------------------------------------

export function bytes(...parts: ByteLike[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u8(n: number): number[] {
  return [n & 0xff];
}

export function u16(n: number): number[] {
  return [(n >>> 8) & 0xff, n & 0xff];
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export function u16le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff];
}

export function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

/** n bytes of a recognisable pattern (i & 0xff), for payloads. */
export function pattern(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) & 0xff;
  return out;
}

export function readBe16(d: Uint8Array, o: number): number {
  return (d[o]! << 8) | d[o + 1]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------------------------

export function ipv4Word(text: string): number {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${text}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function ipv4Bytes(text: string): number[] {
  return u32(ipv4Word(text));
}

/** Parses an IPv6 address (with optional "::") into eight 16-bit groups. */
function ipv6Groups(text: string): number[] {
  const halves = text.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 ${text}`);
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) throw new Error(`bad IPv6 ${text}`);
  return groups;
}

export function ipv6Bytes(text: string): number[] {
  return ipv6Groups(text).flatMap((g) => u16(g));
}

/** The four 32-bit words the decoder stores for an IPv6 address. */
export function ipv6Words(text: string): [number, number, number, number] {
  const g = ipv6Groups(text);
  const w = (i: number): number => ((g[i]! << 16) | g[i + 1]!) >>> 0;
  return [w(0), w(2), w(4), w(6)];
}

/** The four words the decoder stores for an IPv4 address (IPv4-mapped). */
export function ipv4MappedWords(text: string): [number, number, number, number] {
  return [0, 0, 0xffff, ipv4Word(text)];
}

export const MAC_A = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
export const MAC_B = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

// ---------------------------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------------------------

export const ETH = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  IPV6: 0x86dd,
  MPLS: 0x8847,
  PPPOE_SESSION: 0x8864,
  TEB: 0x6558,
  VNTAG: 0x8926,
  FABRICPATH: 0x8903,
  NSH: 0x894f,
  ERSPAN_1_2: 0x88be,
  ERSPAN_3: 0x22eb,
  PPP: 0x880b,
} as const;

export const PROTO = {
  HOPOPT: 0,
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  SCTP: 132,
  DCCP: 33,
  MOBILITY: 135,
} as const;

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

// ---------------------------------------------------------------------------------------------------------------
// Link layers
// ---------------------------------------------------------------------------------------------------------------

export interface VlanTag {
  vid: number;
  /** Tag protocol identifier of this tag (default 0x8100; 0x88a8 for an 802.1ad service tag). */
  tpid?: number;
  pcp?: number;
  dei?: boolean;
}

export interface EthernetOptions {
  dst?: ByteLike;
  src?: ByteLike;
  /** Outermost first. */
  vlans?: (number | VlanTag)[];
}

/** Ethernet II frame: dst, src, VLAN tags (outermost first), EtherType, payload. */
export function ethernet(type: number, payload: ByteLike, opts: EthernetOptions = {}): Uint8Array {
  const parts: ByteLike[] = [opts.dst ?? MAC_A, opts.src ?? MAC_B];
  for (const v of opts.vlans ?? []) {
    const tag: VlanTag = typeof v === 'number' ? { vid: v } : v;
    parts.push(u16(tag.tpid ?? ETH.VLAN), u16(((tag.pcp ?? 0) << 13) | (tag.dei ? 0x1000 : 0) | (tag.vid & 0x0fff)));
  }
  parts.push(u16(type), payload);
  return bytes(...parts);
}

/** Outer 802.1ad service tag then an 802.1Q customer tag. */
export function qinq(outer: number, inner: number): VlanTag[] {
  return [
    { vid: outer, tpid: ETH.QINQ },
    { vid: inner, tpid: ETH.VLAN },
  ];
}

/** 802.3 frame with an LLC/SNAP header carrying `type`. */
export function ethernetSnap(type: number, payload: ByteLike): Uint8Array {
  const snap = bytes([0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00], u16(type), payload);
  return bytes(MAC_A, MAC_B, u16(snap.length), snap);
}

/** MPLS label stack (bottom-of-stack set on the last label), optional pseudowire control word. */
export function mpls(labels: number[], payload: ByteLike, opts: { controlWord?: boolean; ttl?: number; noBottom?: boolean } = {}): Uint8Array {
  const parts: ByteLike[] = [];
  labels.forEach((label, i) => {
    const bottom = i === labels.length - 1 && !opts.noBottom ? 1 : 0;
    parts.push(u32(((label & 0xfffff) << 12) | bottom << 8 | (opts.ttl ?? 64)));
  });
  if (opts.controlWord) parts.push(u32(0));
  parts.push(payload);
  return bytes(...parts);
}

/** PPPoE session header + 2-byte PPP protocol: the payload of EtherType 0x8864. */
export function pppoe(pppProtocol: number, payload: ByteLike, sessionId = 0x1234): Uint8Array {
  return bytes([0x11, 0x00], u16(sessionId), u16(payload.length + 2), u16(pppProtocol), payload);
}

/** PPP frame (LINKTYPE_PPP / PPP_HDLC): optional FF 03, then the protocol (1 byte when compressed). */
export function ppp(protocol: number, payload: ByteLike, opts: { hdlc?: boolean; compressed?: boolean } = {}): Uint8Array {
  const head: number[] = opts.hdlc === false ? [] : [0xff, 0x03];
  const proto = opts.compressed ? [protocol & 0xff] : u16(protocol);
  return bytes(head, proto, payload);
}

/** Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 16 bytes). */
export function sll(protocol: number, payload: ByteLike, packetType = 0): Uint8Array {
  return bytes(u16(packetType), u16(1), u16(6), MAC_A, [0, 0], u16(protocol), payload);
}

/** Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 20 bytes). */
export function sll2(protocol: number, payload: ByteLike, ifIndex = 3): Uint8Array {
  return bytes(u16(protocol), u16(0), u32(ifIndex), u16(1), [0], [6], MAC_A, [0, 0], payload);
}

/** BSD loopback header: 4-byte address family in host order (NULL, little-endian here) or network order (LOOP). */
export function nullHeader(family: number, payload: ByteLike, networkOrder = false): Uint8Array {
  return bytes(networkOrder ? u32(family) : u32le(family), payload);
}

export interface NflogTlv {
  type: number;
  value: ByteLike;
  /** Override the TLV length field. */
  length?: number;
}

/** Linux NFLOG: 4-byte header, then little-endian TLVs padded to 4 bytes; the packet goes in TLV type 9. */
export function nflog(tlvs: NflogTlv[], family = 2): Uint8Array {
  const parts: ByteLike[] = [[family, 0, 0, 0]];
  for (const t of tlvs) {
    const len = t.length ?? 4 + t.value.length;
    parts.push(u16le(len), u16le(t.type), t.value);
    const pad = ((4 + t.value.length + 3) & ~3) - (4 + t.value.length);
    parts.push(zeros(pad));
  }
  return bytes(...parts);
}

/** NFLOG frame with a prefix TLV and the packet in TLV 9 (the usual shape). */
export function nflogPacket(ip: ByteLike, family = 2): Uint8Array {
  return nflog(
    [
      { type: 1, value: [0x08, 0x00, 0x03, 0x00] }, // NFULA_PACKET_HDR
      { type: 10, value: bytes(new TextEncoder().encode('offpath'), [0]) }, // NFULA_PREFIX
      { type: 9, value: ip },
    ],
    family,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// IP
// ---------------------------------------------------------------------------------------------------------------

export function internetChecksum(data: ByteLike, start = 0, end = data.length): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (data[i]! << 8) | (i + 1 < end ? data[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface Ipv4Options {
  src?: string;
  dst?: string;
  proto: number;
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  /** Raw option bytes (padded to 4 with EOL). */
  options?: ByteLike;
  /** Overrides. */
  totalLength?: number;
  ihl?: number;
  version?: number;
  checksum?: number;
}

export function ipv4(opts: Ipv4Options, payload: ByteLike = []): Uint8Array {
  const rawOpts = opts.options ?? [];
  const optLen = (rawOpts.length + 3) & ~3;
  const headerLength = 20 + optLen;
  const ihl = opts.ihl ?? headerLength / 4;
  const total = opts.totalLength ?? headerLength + payload.length;
  const frag = (opts.df ? 0x4000 : 0) | (opts.mf ? 0x2000 : 0) | ((opts.fragOffset ?? 0) & 0x1fff);
  const h = bytes(
    [((opts.version ?? 4) << 4) | (ihl & 15), opts.tos ?? 0],
    u16(total),
    u16(opts.id ?? 0x1c46),
    u16(frag),
    [opts.ttl ?? 64, opts.proto],
    [0, 0],
    ipv4Bytes(opts.src ?? '10.0.0.1'),
    ipv4Bytes(opts.dst ?? '10.0.0.2'),
    rawOpts,
    zeros(optLen - rawOpts.length),
  );
  const ck = opts.checksum ?? internetChecksum(h, 0, headerLength);
  h[10] = ck >>> 8;
  h[11] = ck & 0xff;
  return bytes(h, payload);
}

export interface Ipv6Extension {
  /** Header type: 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 destination options, 135 mobility. */
  type: number;
  /** Body after the next-header/length bytes (hop-by-hop, routing, dest-opts, mobility, AH); padded as needed. */
  body?: ByteLike;
  /** Fragment header fields (type 44). */
  fragOffset?: number;
  more?: boolean;
  ident?: number;
}

export interface Ipv6Options {
  src?: string;
  dst?: string;
  /** Protocol after the last extension header. */
  next: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  extensions?: Ipv6Extension[];
  /** Overrides. */
  payloadLength?: number;
  version?: number;
}

/** One IPv6 extension header with `next` as its next-header byte. */
export function ipv6Extension(ext: Ipv6Extension, next: number): Uint8Array {
  if (ext.type === PROTO.FRAGMENT) {
    const offMore = (((ext.fragOffset ?? 0) & 0x1fff) << 3) | (ext.more ? 1 : 0);
    return bytes([next, 0], u16(offMore), u32(ext.ident ?? 0xabcdef01));
  }
  if (ext.type === PROTO.AH) {
    // Length in 4-byte units minus 2; body = SPI, sequence, ICV.
    const body = ext.body ?? bytes(u32(0x100), u32(1), zeros(12));
    const total = (2 + body.length + 3) & ~3;
    const padded = bytes(body, zeros(total - 2 - body.length));
    return bytes([next, total / 4 - 2], padded);
  }
  // Length in 8-byte units minus 1; default body is PadN filling 6 bytes.
  const body = ext.body ?? [1, 4, 0, 0, 0, 0];
  const total = (2 + body.length + 7) & ~7;
  const padded = bytes(body, zeros(total - 2 - body.length));
  return bytes([next, total / 8 - 1], padded);
}

export function ipv6(opts: Ipv6Options, payload: ByteLike = []): Uint8Array {
  const exts = opts.extensions ?? [];
  const extBytes: Uint8Array[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? exts[i + 1]!.type : opts.next;
    extBytes.push(ipv6Extension(exts[i]!, next));
  }
  const firstNext = exts.length > 0 ? exts[0]!.type : opts.next;
  const body = bytes(...extBytes, payload);
  const plen = opts.payloadLength ?? body.length;
  const v = opts.version ?? 6;
  const tc = opts.trafficClass ?? 0;
  const fl = opts.flowLabel ?? 0x12345;
  const first = ((v << 28) | (tc << 20) | (fl & 0xfffff)) >>> 0;
  return bytes(
    u32(first),
    u16(plen),
    [firstNext, opts.hopLimit ?? 64],
    ipv6Bytes(opts.src ?? '2001:db8::1'),
    ipv6Bytes(opts.dst ?? '2001:db8::2'),
    body,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------------------------

export interface TcpOptionSpec {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  timestamps?: [number, number];
}

/** A realistic SYN option list (MSS, SACK-permitted, timestamps, NOP, window scale), padded to 4 bytes. */
export function tcpOptions(spec: TcpOptionSpec): Uint8Array {
  const parts: ByteLike[] = [];
  if (spec.mss !== undefined) parts.push([2, 4], u16(spec.mss));
  if (spec.sackPermitted) parts.push([4, 2]);
  if (spec.timestamps) parts.push([8, 10], u32(spec.timestamps[0]), u32(spec.timestamps[1]));
  if (spec.wscale !== undefined) parts.push([1, 3, 3, spec.wscale]);
  const raw = bytes(...parts);
  return bytes(raw, zeros(((raw.length + 3) & ~3) - raw.length));
}

export interface TcpHeaderOptions {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  urgent?: number;
  /** Raw option bytes (padded with zeros to 4). */
  options?: ByteLike;
  /** Override the data offset (in 32-bit words). */
  dataOffset?: number;
  checksum?: number;
}

export function tcp(opts: TcpHeaderOptions, payload: ByteLike = []): Uint8Array {
  const rawOpts = opts.options ?? [];
  const optLen = (rawOpts.length + 3) & ~3;
  const doff = opts.dataOffset ?? (20 + optLen) / 4;
  return bytes(
    u16(opts.sport),
    u16(opts.dport),
    u32(opts.seq ?? 0),
    u32(opts.ack ?? 0),
    [(doff & 15) << 4, opts.flags ?? TCP_FLAGS.ACK],
    u16(opts.window ?? 65535),
    u16(opts.checksum ?? 0),
    u16(opts.urgent ?? 0),
    rawOpts,
    zeros(optLen - rawOpts.length),
    payload,
  );
}

export function udp(opts: { sport: number; dport: number; length?: number; checksum?: number }, payload: ByteLike = []): Uint8Array {
  return bytes(u16(opts.sport), u16(opts.dport), u16(opts.length ?? 8 + payload.length), u16(opts.checksum ?? 0), payload);
}

/** ICMP or ICMPv6 message: type, code, checksum, then `rest` (the 4 bytes of id/seq or unused, and the body). */
export function icmp(type: number, code: number, rest: ByteLike = []): Uint8Array {
  const m = bytes([type, code, 0, 0], rest);
  const ck = internetChecksum(m);
  m[2] = ck >>> 8;
  m[3] = ck & 0xff;
  return m;
}

export function icmpEcho(type: number, id: number, seq: number, payload: ByteLike = []): Uint8Array {
  return icmp(type, 0, bytes(u16(id), u16(seq), payload));
}

// ---------------------------------------------------------------------------------------------------------------
// Tunnels
// ---------------------------------------------------------------------------------------------------------------

export interface GreOptions {
  proto: number;
  version?: number;
  checksum?: boolean;
  routing?: boolean;
  key?: number;
  seq?: number;
  /** Version 1 (PPTP) only. */
  ack?: number;
  callId?: number;
}

export function gre(opts: GreOptions, payload: ByteLike = []): Uint8Array {
  const version = opts.version ?? 0;
  let flags = version & 7;
  const tail: ByteLike[] = [];
  if (version === 1) {
    flags |= 0x2000; // key present (payload length + call id)
    if (opts.seq !== undefined) flags |= 0x1000;
    if (opts.ack !== undefined) flags |= 0x0080;
    tail.push(u16(payload.length), u16(opts.callId ?? 7));
    if (opts.seq !== undefined) tail.push(u32(opts.seq));
    if (opts.ack !== undefined) tail.push(u32(opts.ack));
  } else {
    if (opts.checksum) flags |= 0x8000;
    if (opts.routing) flags |= 0x4000;
    if (opts.key !== undefined) flags |= 0x2000;
    if (opts.seq !== undefined) flags |= 0x1000;
    if (opts.checksum || opts.routing) tail.push([0, 0, 0, 0]);
    if (opts.key !== undefined) tail.push(u32(opts.key));
    if (opts.seq !== undefined) tail.push(u32(opts.seq));
  }
  return bytes(u16(flags), u16(opts.proto), ...tail, payload);
}

/** ERSPAN type II header (8 bytes) + mirrored frame. Goes in GRE proto 0x88be with the sequence flag. */
export function erspan2(opts: { vlan: number; session?: number; index?: number }, frame: ByteLike): Uint8Array {
  return bytes(u16((1 << 12) | (opts.vlan & 0x0fff)), u16(opts.session ?? 42), u32(opts.index ?? 0), frame);
}

/** ERSPAN type III header (12 bytes, + 8-byte platform subheader when `platform`) + mirrored frame or IP packet. */
export function erspan3(opts: { vlan: number; session?: number; frameType?: number; platform?: boolean; hwId?: number }, payload: ByteLike): Uint8Array {
  const ft = opts.frameType ?? 0;
  const hw = opts.hwId ?? 5;
  const byte10 = ((ft & 0x1f) << 2) | ((hw >> 4) & 3);
  const byte11 = ((hw & 0xf) << 4) | (opts.platform ? 1 : 0);
  return bytes(
    u16((2 << 12) | (opts.vlan & 0x0fff)),
    u16(opts.session ?? 42),
    u32(0x01020304), // timestamp
    u16(0), // SGT
    [byte10, byte11],
    opts.platform ? bytes(u32(0x0a0b0c0d), u32(0x01020304)) : [],
    payload,
  );
}

/** VXLAN header (I flag set unless flags given) + inner Ethernet frame. */
export function vxlan(vni: number, frame: ByteLike, flags = 0x08): Uint8Array {
  return bytes([flags, 0, 0, 0], u32((vni & 0xffffff) << 8), frame);
}

/** VXLAN-GPE: I and P flags, next protocol (1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS). */
export function vxlanGpe(next: number, vni: number, payload: ByteLike): Uint8Array {
  return bytes([0x0c, 0, 0, next], u32((vni & 0xffffff) << 8), payload);
}

/** Geneve: version 0, options of `optionWords`·4 bytes, protocol type, VNI. */
export function geneve(opts: { proto: number; vni?: number; optionWords?: number; version?: number }, payload: ByteLike): Uint8Array {
  const words = opts.optionWords ?? 0;
  return bytes([((opts.version ?? 0) << 6) | (words & 0x3f), 0], u16(opts.proto), u32(((opts.vni ?? 100) & 0xffffff) << 8), zeros(words * 4), payload);
}

/** GTP-U G-PDU (version 1, PT=1, type 255), optional sequence number and extension headers. */
export function gtpu(opts: { teid?: number; seq?: number; extensions?: ByteLike[]; type?: number }, payload: ByteLike): Uint8Array {
  const exts = opts.extensions ?? [];
  const hasOptional = opts.seq !== undefined || exts.length > 0;
  const flags = 0x30 | (exts.length > 0 ? 0x04 : 0) | (opts.seq !== undefined ? 0x02 : 0);
  const optional: ByteLike[] = [];
  if (hasOptional) {
    // seq (2), N-PDU (1), next extension type (1); each extension: length (4-byte units), content, next type.
    optional.push(u16(opts.seq ?? 0), [0], [exts.length > 0 ? 0x85 : 0]);
    exts.forEach((content, i) => {
      const total = (content.length + 2 + 3) & ~3;
      const padded = bytes(content, zeros(total - 2 - content.length));
      optional.push([total / 4], padded, [i + 1 < exts.length ? 0x85 : 0]);
    });
  }
  const opt = bytes(...optional);
  return bytes([flags, opts.type ?? 0xff], u16(opt.length + payload.length), u32(opts.teid ?? 0x1000), opt, payload);
}

/** NSH (RFC 8300) MD type 2 with no metadata unless `words` > 2. */
export function nsh(next: number, payload: ByteLike, words = 2): Uint8Array {
  return bytes([0x0f, words & 0x3f, 0x02, next], u32((100 << 8) | 255), zeros(Math.max(0, words - 2) * 4), payload);
}

/** Teredo: optional origin indication (8 bytes), then the IPv6 packet. */
export function teredo(ipv6Packet: ByteLike, origin = false): Uint8Array {
  return bytes(origin ? [0, 0, 0x12, 0x34, 0xc0, 0x00, 0x02, 0x01] : [], ipv6Packet);
}

// ---------------------------------------------------------------------------------------------------------------
// Convenience: common whole packets
// ---------------------------------------------------------------------------------------------------------------

export function ethIpv4Tcp(opts: Partial<Ipv4Options> & { tcp: TcpHeaderOptions; payload?: ByteLike; eth?: EthernetOptions }): Uint8Array {
  const { tcp: t, payload, eth, ...ip } = opts;
  return ethernet(ETH.IPV4, ipv4({ ...ip, proto: PROTO.TCP }, tcp(t, payload ?? [])), eth);
}

export function ethIpv4Udp(opts: Partial<Ipv4Options> & { sport: number; dport: number; payload?: ByteLike; eth?: EthernetOptions }): Uint8Array {
  const { sport, dport, payload, eth, ...ip } = opts;
  return ethernet(ETH.IPV4, ipv4({ ...ip, proto: PROTO.UDP }, udp({ sport, dport }, payload ?? [])), eth);
}

// ---------------------------------------------------------------------------------------------------------------
// Capture files
// ---------------------------------------------------------------------------------------------------------------

class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;
  constructor(public little: boolean) {}
  raw(b: ByteLike): void {
    const a = b instanceof Uint8Array ? b : Uint8Array.from(b);
    this.chunks.push(a);
    this.length += a.length;
  }
  u16(n: number): void {
    this.raw(this.little ? u16le(n) : u16(n));
  }
  u32(n: number): void {
    this.raw(this.little ? u32le(n) : u32(n));
  }
  pad4(): void {
    const pad = ((this.length + 3) & ~3) - this.length;
    if (pad) this.raw(zeros(pad));
  }
  bytes(): Uint8Array {
    return bytes(...this.chunks);
  }
}

export interface PcapRecord {
  data: ByteLike;
  tsSec?: number;
  /** Microseconds or nanoseconds, per the file's magic. */
  tsFrac?: number;
  /** Original length (default data.length). */
  origLen?: number;
  /** Override the captured-length field as stored (default data.length). */
  inclField?: number;
  /** Override the original-length field as stored. */
  origField?: number;
}

export interface PcapFileOptions {
  linkType?: number;
  nanosecond?: boolean;
  bigEndian?: boolean;
  snapLength?: number;
  versionMajor?: number;
  versionMinor?: number;
}

export interface BuiltFile {
  bytes: Uint8Array;
  /** Byte offset of each record (pcap) or block (pcapng), in order. */
  offsets: number[];
}

/**
 * Classic pcap. For versions before 2.3 the two length fields are written the other way round (as such files
 * really are), unless the raw fields are overridden.
 */
export function buildPcap(records: PcapRecord[], opts: PcapFileOptions = {}): BuiltFile {
  const w = new Writer(!opts.bigEndian);
  w.u32(opts.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4);
  w.u16(opts.versionMajor ?? 2);
  w.u16(opts.versionMinor ?? 4);
  w.u32(0); // thiszone
  w.u32(0); // sigfigs
  w.u32(opts.snapLength ?? 262144);
  w.u32(opts.linkType ?? 1);
  const offsets: number[] = [];
  const swapped = (opts.versionMajor ?? 2) === 2 && (opts.versionMinor ?? 4) < 3;
  for (const r of records) {
    offsets.push(w.length);
    const incl = r.data.length;
    const orig = r.origLen ?? incl;
    w.u32(r.tsSec ?? 1_700_000_000);
    w.u32(r.tsFrac ?? 0);
    w.u32(r.inclField ?? (swapped ? orig : incl));
    w.u32(r.origField ?? (swapped ? incl : orig));
    w.raw(r.data);
  }
  return { bytes: w.bytes(), offsets };
}

export interface NgOption {
  code: number;
  value: ByteLike;
}

export type NgBlock =
  | { type: 'shb'; bigEndian?: boolean; major?: number; minor?: number; options?: NgOption[]; byteOrderMagic?: number }
  | {
      type: 'idb';
      linkType: number;
      snapLength?: number;
      /** Raw if_tsresol byte (6 = µs, 9 = ns, 0x8a = 2^-10). */
      tsresol?: number;
      /** if_tsoffset in seconds. */
      tsoffset?: number;
      options?: NgOption[];
    }
  | { type: 'epb'; iface: number; ticks: bigint; data: ByteLike; origLen?: number; capturedField?: number; options?: NgOption[] }
  | { type: 'spb'; data: ByteLike; origLen?: number }
  | { type: 'pb'; iface: number; ticks: bigint; data: ByteLike; origLen?: number }
  | { type: 'raw'; blockType: number; body: ByteLike; lengthField?: number; trailerField?: number };

/** Encodes options for the current byte order, with opt_endofopt. */
function writeOptions(w: Writer, options: NgOption[]): void {
  if (options.length === 0) return;
  for (const o of options) {
    w.u16(o.code);
    w.u16(o.value.length);
    w.raw(o.value);
    w.pad4();
  }
  w.u16(0);
  w.u16(0);
}

function optionsLength(options: NgOption[]): number {
  if (options.length === 0) return 0;
  let n = 4;
  for (const o of options) n += 4 + ((o.value.length + 3) & ~3);
  return n;
}

/** 64-bit value as 8 bytes in the given byte order. */
export function u64(n: bigint, little: boolean): number[] {
  const hi = Number((n >> 32n) & 0xffffffffn);
  const lo = Number(n & 0xffffffffn);
  return little ? [...u32le(lo), ...u32le(hi)] : [...u32(hi), ...u32(lo)];
}

/**
 * pcapng. Each block is written in the byte order of the section it belongs to (set by the last SHB; the
 * first block must be an SHB).
 */
export function buildPcapng(blocks: NgBlock[]): BuiltFile {
  const out: Uint8Array[] = [];
  const offsets: number[] = [];
  let little = true;
  let pos = 0;
  for (const b of blocks) {
    if (b.type === 'shb') little = !b.bigEndian;
    const w = new Writer(little);
    const block = (type: number, bodyLength: number, body: () => void, lengthField?: number, trailerField?: number): void => {
      const total = 12 + ((bodyLength + 3) & ~3);
      w.u32(type);
      w.u32(lengthField ?? total);
      body();
      w.pad4();
      w.u32(trailerField ?? total);
    };
    switch (b.type) {
      case 'shb': {
        const opts = b.options ?? [];
        block(0x0a0d0d0a, 16 + optionsLength(opts), () => {
          if (b.byteOrderMagic !== undefined) w.raw(u32le(b.byteOrderMagic));
          else w.u32(0x1a2b3c4d);
          w.u16(b.major ?? 1);
          w.u16(b.minor ?? 0);
          w.raw(u64(-1n & 0xffffffffffffffffn, little)); // section length unknown
          writeOptions(w, opts);
        });
        break;
      }
      case 'idb': {
        const opts: NgOption[] = [...(b.options ?? [])];
        if (b.tsresol !== undefined) opts.push({ code: 9, value: [b.tsresol] });
        if (b.tsoffset !== undefined) opts.push({ code: 14, value: u64(BigInt.asUintN(64, BigInt(b.tsoffset)), little) });
        block(1, 8 + optionsLength(opts), () => {
          w.u16(b.linkType);
          w.u16(0);
          w.u32(b.snapLength ?? 0);
          writeOptions(w, opts);
        });
        break;
      }
      case 'epb': {
        const opts = b.options ?? [];
        const padded = (b.data.length + 3) & ~3;
        block(6, 20 + padded + optionsLength(opts), () => {
          w.u32(b.iface);
          w.u32(Number((b.ticks >> 32n) & 0xffffffffn));
          w.u32(Number(b.ticks & 0xffffffffn));
          w.u32(b.capturedField ?? b.data.length);
          w.u32(b.origLen ?? b.data.length);
          w.raw(b.data);
          w.pad4();
          writeOptions(w, opts);
        });
        break;
      }
      case 'spb':
        block(3, 4 + b.data.length, () => {
          w.u32(b.origLen ?? b.data.length);
          w.raw(b.data);
        });
        break;
      case 'pb':
        block(2, 20 + b.data.length, () => {
          w.u16(b.iface);
          w.u16(0); // drops
          w.u32(Number((b.ticks >> 32n) & 0xffffffffn));
          w.u32(Number(b.ticks & 0xffffffffn));
          w.u32(b.data.length);
          w.u32(b.origLen ?? b.data.length);
          w.raw(b.data);
        });
        break;
      case 'raw':
        block(b.blockType, b.body.length, () => w.raw(b.body), b.lengthField, b.trailerField);
        break;
    }
    const chunk = w.bytes();
    offsets.push(pos);
    out.push(chunk);
    pos += chunk.length;
  }
  return { bytes: bytes(...out), offsets };
}

// ---------------------------------------------------------------------------------------------------------------
// Temp files
// ---------------------------------------------------------------------------------------------------------------

export class TempDir {
  readonly path: string;
  private n = 0;
  constructor(prefix = 'offpath-test-') {
    this.path = mkdtempSync(join(tmpdir(), prefix));
  }
  /** Writes bytes to a new file in the directory and returns its path. */
  write(bytes: ByteLike, name?: string): string {
    const p = join(this.path, name ?? `f${this.n++}.bin`);
    writeFileSync(p, bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    return p;
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32): same seed, same sequence, on every machine
// ---------------------------------------------------------------------------------------------------------------

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  bool(p = 0.5): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}
