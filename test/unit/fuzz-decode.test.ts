/**
 * Seeded, reproducible fuzzing of decodePacket: random bytes and mutations of valid packets for every
 * supported link type. A failure message names the seed, link type and iteration, and the bytes as hex.
 */
import { describe, expect, it } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult, NoFlowReason } from '../../src/decode/decoded-packet.js';
import { DecodeError, DECODE_ERROR_COUNT } from '../../src/decode/decode-error.js';
import { MAX_TUNNEL_DEPTH } from '../../src/decode/ip.js';
import * as B from '../support/packet-builder.js';

const { ETH, PROTO } = B;
const ANOMALIES = new Set<number>([DecodeError.none, DecodeError.udp_length_exceeds_ip, DecodeError.tcp_bad_option, DecodeError.ipv4_total_length_zero]);
const NO_FLOW_COUNT = Object.keys(NoFlowReason).length;

// ------------------------------------------------------------------------------------------------------------
// Corpus of valid packets per link type
// ------------------------------------------------------------------------------------------------------------

function ipCorpus(): Uint8Array[] {
  const tcpSyn = B.tcp({ sport: 40000, dport: 443, flags: 0x02, seq: 1, options: B.tcpOptions({ mss: 1460, sackPermitted: true, timestamps: [1, 0], wscale: 7 }) });
  const inner = B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 1, dport: 2 }, B.pattern(20)));
  const inner6 = B.ipv6({ next: PROTO.UDP }, B.udp({ sport: 5, dport: 6 }, B.pattern(10)));
  const innerEth = B.ethernet(ETH.IPV4, inner, { vlans: [5] });
  const udp4 = (dport: number, payload: Uint8Array): Uint8Array => B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1234, dport }, payload));
  return [
    B.ipv4({ proto: PROTO.TCP, options: [0x94, 4, 0, 0] }, tcpSyn),
    B.ipv4({ proto: PROTO.UDP, mf: true }, B.udp({ sport: 53, dport: 53 }, B.pattern(30))),
    B.ipv4({ proto: PROTO.UDP, fragOffset: 10 }, B.pattern(30)),
    B.ipv4({ proto: PROTO.ICMP }, B.icmpEcho(8, 7, 1, B.pattern(16))),
    B.ipv4({ proto: PROTO.ICMP }, B.icmp(3, 1, B.bytes(B.zeros(4), inner.subarray(0, 28)))),
    B.ipv4({ proto: PROTO.IPIP }, inner),
    B.ipv4({ proto: PROTO.IPV6 }, inner6),
    B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.IPV4, key: 1, seq: 2, checksum: true }, inner)),
    B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.PPP, version: 1, seq: 1, ack: 2 }, B.ppp(0x21, inner))),
    B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.ERSPAN_1_2, seq: 1 }, B.erspan2({ vlan: 3 }, innerEth))),
    B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.ERSPAN_3, seq: 1 }, B.erspan3({ vlan: 3, platform: true }, innerEth))),
    B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.ERSPAN_3, seq: 1 }, B.erspan3({ vlan: 3, frameType: 2 }, inner))),
    B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.TEB }, innerEth)),
    udp4(4789, B.vxlan(1, innerEth)),
    udp4(4790, B.vxlanGpe(4, 1, B.nsh(3, innerEth))),
    udp4(6081, B.geneve({ proto: ETH.TEB, optionWords: 2 }, innerEth)),
    udp4(2152, B.gtpu({ seq: 1, extensions: [[1, 2]] }, inner)),
    udp4(3544, B.teredo(inner6, true)),
    udp4(4754, B.gre({ proto: ETH.IPV6 }, inner6)),
    udp4(6635, B.mpls([1, 2], inner)),
    B.ipv4({ proto: PROTO.SCTP }, B.pattern(16)),
    B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.HOPOPT }, { type: PROTO.ROUTING }, { type: PROTO.DSTOPTS }] }, tcpSyn),
    B.ipv6({ next: PROTO.UDP, extensions: [{ type: PROTO.FRAGMENT, more: true }] }, B.udp({ sport: 1, dport: 2 }, B.pattern(8))),
    B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.AH }] }, B.tcp({ sport: 1, dport: 2 })),
    B.ipv6({ next: PROTO.UDP, payloadLength: 0, extensions: [{ type: PROTO.HOPOPT, body: B.bytes([0xc2, 4], B.u32(8 + 8 + 20)) }] }, B.udp({ sport: 1, dport: 2, length: 0 }, B.pattern(20))),
    B.ipv6({ next: PROTO.ICMPV6 }, B.icmpEcho(128, 1, 1)),
  ];
}

function corpus(linkType: number): Uint8Array[] {
  const ips = ipCorpus();
  const ip4 = ips[0]!;
  const ip6 = ips[ips.length - 5]!;
  switch (linkType) {
    case LinkType.ETHERNET:
      return [
        ...ips.map((ip) => B.ethernet(ip[0]! >> 4 === 6 ? ETH.IPV6 : ETH.IPV4, ip)),
        B.ethernet(ETH.IPV4, ip4, { vlans: B.qinq(100, 200) }),
        B.ethernet(ETH.MPLS, B.mpls([1, 2, 3], ip6)),
        B.ethernet(ETH.MPLS, B.mpls([1], B.ethernet(ETH.IPV4, ip4), { controlWord: true })),
        B.ethernet(ETH.PPPOE_SESSION, B.pppoe(0x21, ip4)),
        B.ethernetSnap(ETH.IPV4, ip4),
        B.ethernet(ETH.VNTAG, B.bytes([0, 0, 0, 0], B.u16(ETH.IPV4), ip4)),
        B.ethernet(ETH.FABRICPATH, B.bytes([0, 0], B.ethernet(ETH.IPV6, ip6))),
        B.ethernet(ETH.NSH, B.nsh(1, ip4, 4)),
        B.ethernet(ETH.ARP, B.zeros(28)),
      ];
    case LinkType.NULL:
    case LinkType.LOOP:
      return [B.nullHeader(2, ip4, linkType === LinkType.LOOP), B.nullHeader(30, ip6, linkType === LinkType.LOOP), B.nullHeader(24, ip6)];
    case LinkType.PPP:
    case LinkType.PPP_HDLC:
      return [B.ppp(0x21, ip4), B.ppp(0x57, ip6, { hdlc: false }), B.ppp(0x21, ip4, { hdlc: false, compressed: true }), B.ppp(0x281, B.mpls([5], ip4)), B.ppp(0xc021, B.zeros(10))];
    case LinkType.LINUX_SLL:
      return [B.sll(ETH.IPV4, ip4), B.sll(ETH.IPV6, ip6), B.sll(ETH.VLAN, B.bytes(B.u16(5), B.u16(ETH.IPV4), ip4))];
    case LinkType.LINUX_SLL2:
      return [B.sll2(ETH.IPV4, ip4), B.sll2(ETH.IPV6, ip6), B.sll2(ETH.MPLS, B.mpls([9], ip4))];
    case LinkType.NFLOG:
      return [B.nflogPacket(ip4), B.nflogPacket(ip6, 10)];
    case LinkType.IPV4:
      return ips.filter((ip) => ip[0]! >> 4 === 4);
    case LinkType.IPV6:
      return ips.filter((ip) => ip[0]! >> 4 === 6);
    default:
      return ips;
  }
}

const LINK_TYPES = [LinkType.ETHERNET, LinkType.NULL, LinkType.LOOP, LinkType.PPP, LinkType.PPP_HDLC, LinkType.RAW, LinkType.RAW_ALT, LinkType.RAW_ALT_OPENBSD, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NFLOG, LinkType.IPV4, LinkType.IPV6, 147];

// ------------------------------------------------------------------------------------------------------------
// Mutations
// ------------------------------------------------------------------------------------------------------------

const BOUNDARY16 = [0, 1, 2, 3, 4, 7, 8, 13, 14, 19, 20, 39, 40, 0x7fff, 0x8000, 0xfffe, 0xffff];

function mutate(rng: B.Rng, src: Uint8Array): Uint8Array {
  let d: Uint8Array = Uint8Array.from(src);
  const rounds = 1 + rng.int(4);
  for (let k = 0; k < rounds; k++) {
    switch (rng.int(7)) {
      case 0: // bit flips
        for (let n = 1 + rng.int(4); n > 0 && d.length; n--) d[rng.int(d.length)]! ^= 1 << rng.int(8);
        break;
      case 1: // random byte
        if (d.length) d[rng.int(d.length)] = rng.u32() & 0xff;
        break;
      case 2: // a 16-bit field set to a boundary or random value (lengths, EtherTypes, ports)
        if (d.length >= 2) {
          const o = rng.int(d.length - 1);
          const v = rng.bool(0.6) ? rng.pick(BOUNDARY16) : rng.bool() ? (d.length + rng.int(5) - 2) & 0xffff : rng.u32() & 0xffff;
          d[o] = v >> 8;
          d[o + 1] = v & 0xff;
        }
        break;
      case 3: // nibble fields: versions, header lengths, data offsets
        if (d.length) {
          const o = rng.int(d.length);
          d[o] = rng.bool() ? (d[o]! & 0xf0) | rng.int(16) : (rng.int(16) << 4) | (d[o]! & 0x0f);
        }
        break;
      case 4: // truncate
        d = d.subarray(0, rng.int(d.length + 1));
        break;
      case 5: // insert or delete a few bytes
        if (rng.bool() && d.length > 4) {
          const o = rng.int(d.length - 4);
          d = B.bytes(d.subarray(0, o), d.subarray(o + 1 + rng.int(4)));
        } else {
          const o = rng.int(d.length + 1);
          d = B.bytes(d.subarray(0, o), rng.bytes(1 + rng.int(8)), d.subarray(o));
        }
        break;
      case 6: // duplicate a slice (repeated headers)
        if (d.length > 8) {
          const a = rng.int(d.length - 8);
          const len = 4 + rng.int(Math.min(40, d.length - a - 4));
          const at = rng.int(d.length);
          d = B.bytes(d.subarray(0, at), d.subarray(a, a + len), d.subarray(at));
        }
        break;
    }
  }
  return d;
}

// ------------------------------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------------------------------

const pkt = new DecodedPacket();
const hex = (d: Uint8Array): string => Buffer.from(d).toString('hex');

/** Decodes `frame` (captured `cap` bytes, `wire` on the wire) at offset 3 of a buffer with `junk` after it. */
function run(frame: Uint8Array, cap: number, wire: number, linkType: number, junk: number): string {
  const buf = new Uint8Array(3 + cap + 48).fill(junk);
  buf.set(frame.subarray(0, cap), 3);
  let r: number;
  try {
    r = decodePacket(pkt, buf, 3, cap, wire, linkType);
  } catch (err) {
    return `threw ${(err as Error).name}: ${(err as Error).message}`;
  }
  if (r !== DecodeResult.flow && r !== DecodeResult.noFlow && r !== DecodeResult.error) return `result ${r}`;
  if (!Number.isInteger(pkt.error) || pkt.error < 0 || pkt.error >= DECODE_ERROR_COUNT) return `error code ${pkt.error}`;
  if (r === DecodeResult.error && (pkt.error === DecodeError.none || ANOMALIES.has(pkt.error))) return `error result with code ${pkt.error}`;
  if (r !== DecodeResult.error && pkt.error !== DecodeError.none) return `result ${r} with error ${pkt.error}`;
  if (!ANOMALIES.has(pkt.anomaly)) return `anomaly code ${pkt.anomaly}`;
  if (!Number.isInteger(pkt.noFlowReason) || pkt.noFlowReason < 0 || pkt.noFlowReason >= NO_FLOW_COUNT) return `noFlowReason ${pkt.noFlowReason}`;
  if (r === DecodeResult.noFlow && pkt.noFlowReason === NoFlowReason.none) return 'noFlow without a reason';
  if (r === DecodeResult.flow) {
    if (pkt.ipVersion !== 4 && pkt.ipVersion !== 6) return `flow with ipVersion ${pkt.ipVersion}`;
    if (!(pkt.srcPort >= 0 && pkt.srcPort <= 0xffff && pkt.dstPort >= 0 && pkt.dstPort <= 0xffff)) return 'port out of range';
    if (!(pkt.payloadLength >= 0) || !Number.isInteger(pkt.payloadLength)) return `payloadLength ${pkt.payloadLength}`;
    if (pkt.ipOffset < 3 || pkt.ipOffset > 3 + cap) return `ipOffset ${pkt.ipOffset}`;
    if (pkt.tunnelDepth > MAX_TUNNEL_DEPTH) return `tunnelDepth ${pkt.tunnelDepth}`;
    if (pkt.l4Protocol === PROTO.TCP && !(pkt.seq >= 0 && pkt.seq <= 0xffffffff && pkt.windowScale >= -1 && pkt.windowScale <= 14)) return 'tcp fields out of range';
  }
  return `ok ${r} ${pkt.error} ${pkt.anomaly} ${pkt.noFlowReason} ${pkt.ipVersion} ${pkt.srcPort} ${pkt.dstPort} ${pkt.l4Protocol} ${pkt.payloadLength} ${pkt.vlanCount} ${pkt.vlan0} ${pkt.vlan1} ${pkt.tunnelDepth} ${pkt.src3} ${pkt.dst3}`;
}

/** Collects failures so that one run reports every distinct problem, not just the first. */
class Failures {
  private readonly list: string[] = [];
  count = 0;
  add(msg: string): void {
    this.count++;
    if (this.list.length < 8) this.list.push(msg);
  }
  assertNone(): void {
    expect(this.count === 0 ? [] : [`${this.count} failing cases; first ones:`, ...this.list]).toEqual([]);
  }
}

/**
 * Runs one case with three different junk fills after the captured end: each must pass the checks, and all
 * must agree, since a decoder that gives a different answer depending on those bytes reads past the capture.
 */
function check(failures: Failures, frame: Uint8Array, cap: number, wire: number, linkType: number, where: string): void {
  const a = run(frame, cap, wire, linkType, 0x00);
  const b = run(frame, cap, wire, linkType, 0xff);
  const c = run(frame, cap, wire, linkType, 0x66);
  if (!a.startsWith('ok') || !b.startsWith('ok') || !c.startsWith('ok') || a !== b || a !== c) {
    failures.add(`${where} link type ${linkType}, captured ${cap}, wire ${wire}, bytes ${hex(frame.subarray(0, cap))}\n  junk 00: ${a}\n  junk ff: ${b}\n  junk 66: ${c}`);
  }
}

describe('decodePacket fuzz', () => {
  it('every corpus packet is valid to begin with (so mutations start from deep paths)', () => {
    for (const lt of LINK_TYPES.filter((l) => l !== 147)) {
      for (const [i, f] of corpus(lt).entries()) {
        const r = decodePacket(pkt, f, 0, f.length, f.length, lt);
        expect(r === DecodeResult.flow || r === DecodeResult.noFlow, `link type ${lt} corpus ${i}: error ${pkt.error}`).toBe(true);
      }
    }
  });

  it('truncation at every length, as a snap length (wire = full) and as a short frame (wire = captured)', () => {
    const failures = new Failures();
    for (const lt of LINK_TYPES) {
      for (const [i, f] of corpus(lt).entries()) {
        for (let cap = 0; cap <= f.length; cap++) {
          check(failures, f, cap, f.length, lt, `corpus ${i} snap`);
          check(failures, f, cap, cap, lt, `corpus ${i} short`);
        }
      }
    }
    failures.assertNone();
  });

  for (const lt of LINK_TYPES) {
    it(`link type ${lt}: random bytes and mutated packets`, () => {
      const rng = new B.Rng(0x5eed0000 + lt);
      const base = corpus(lt);
      const failures = new Failures();
      const iterations = lt === LinkType.ETHERNET ? 8000 : 2500;
      for (let i = 0; i < iterations; i++) {
        const f = rng.bool(0.15) ? rng.bytes(rng.int(rng.bool(0.9) ? 120 : 1600)) : mutate(rng, rng.pick(base));
        // Mostly whole frames; sometimes snap-cut (wire > captured), sometimes a lying wire length (wire < captured).
        const roll = rng.int(10);
        const cap = roll < 7 ? f.length : rng.int(f.length + 1);
        const wire = roll < 7 ? f.length : roll < 9 ? cap + rng.int(3000) : rng.int(cap + 1);
        check(failures, f, cap, wire, lt, `seed ${0x5eed0000 + lt} iteration ${i}`);
      }
      failures.assertNone();
    });
  }
});
