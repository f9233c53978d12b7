/**
 * One minimal malformed packet per DecodeError name, asserting the exact reason. The last test fails when a
 * reason is added without a case here.
 */
import { describe, expect, it } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import { DecodeError, decodeErrorNames, decodeErrorsToObject, DECODE_ERROR_COUNT, type DecodeErrorName } from '../../src/decode/decode-error.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import * as B from '../support/packet-builder.js';
import { decode, resultName } from './decode-helpers.js';

const { ETH, PROTO } = B;

interface Case {
  frame: Uint8Array;
  linkType?: number;
  captured?: number;
  wire?: number;
}

const tcpIp = (): Uint8Array => B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 1, dport: 2 }));
const eth4 = (ip: Uint8Array, vlans: number[] = []): Uint8Array => B.ethernet(ETH.IPV4, ip, { vlans });
const eth6 = (ip: Uint8Array): Uint8Array => B.ethernet(ETH.IPV6, ip);
const udpTunnel = (dport: number, payload: Uint8Array): Uint8Array => eth4(B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1, dport }, payload)));
const greTunnel = (g: B.GreOptions, payload: Uint8Array): Uint8Array => eth4(B.ipv4({ proto: PROTO.GRE }, B.gre(g, payload)));
const innerEth = (): Uint8Array => B.ethernet(ETH.IPV4, tcpIp());

/** Fatal reasons: result error. */
const fatal: Partial<Record<DecodeErrorName, Case>> = {
  link_type_unsupported: { frame: tcpIp(), linkType: 127 },
  ethernet_truncated: { frame: B.zeros(13) },
  vlan_truncated: { frame: B.bytes(B.MAC_A, B.MAC_B, B.u16(ETH.VLAN), [0, 5, 8]) },
  vlan_too_many_tags: { frame: eth4(tcpIp(), [1, 2, 3, 4, 5, 6, 7, 8, 9]) },
  mpls_truncated: { frame: B.ethernet(ETH.MPLS, [0, 1, 0]) },
  mpls_too_many_labels: { frame: B.ethernet(ETH.MPLS, B.mpls(Array.from({ length: 17 }, (_, i) => i + 16), tcpIp())) },
  pppoe_truncated: { frame: B.ethernet(ETH.PPPOE_SESSION, [0x11, 0, 0, 1, 0, 2, 0]) },
  ppp_truncated: { frame: B.bytes([0xff]), linkType: LinkType.PPP },
  llc_truncated: { frame: B.bytes(B.MAC_A, B.MAC_B, B.u16(3), [0xaa, 0xaa]) },
  sll_truncated: { frame: B.zeros(15), linkType: LinkType.LINUX_SLL },
  null_truncated: { frame: B.zeros(3), linkType: LinkType.NULL },
  null_family_unknown: { frame: B.nullHeader(99, tcpIp()), linkType: LinkType.NULL },
  nflog_truncated: { frame: B.zeros(3), linkType: LinkType.NFLOG },
  nflog_bad_tlv: { frame: B.nflog([{ type: 1, value: [], length: 2 }]), linkType: LinkType.NFLOG },
  ipv4_truncated: { frame: eth4(tcpIp()), captured: 14 + 19 },
  ipv4_bad_version: { frame: eth4(B.ipv4({ proto: PROTO.TCP, version: 7 }, B.tcp({ sport: 1, dport: 2 }))) },
  ipv4_bad_header_length: { frame: eth4(B.ipv4({ proto: PROTO.TCP, ihl: 4 }, B.tcp({ sport: 1, dport: 2 }))) },
  ipv4_bad_total_length: { frame: eth4(B.ipv4({ proto: PROTO.TCP, totalLength: 9000 }, B.tcp({ sport: 1, dport: 2 }))) },
  ipv6_truncated: { frame: eth6(B.ipv6({ next: PROTO.NONE })), captured: 14 + 39 },
  ipv6_bad_version: { frame: eth6(B.ipv6({ next: PROTO.NONE, version: 5 })) },
  ipv6_bad_payload_length: { frame: eth6(B.ipv6({ next: PROTO.NONE, payloadLength: 1 })) },
  ipv6_extension_truncated: { frame: eth6(B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.FRAGMENT }] })), captured: 14 + 44 },
  ipv6_too_many_extensions: { frame: eth6(B.ipv6({ next: PROTO.NONE, extensions: Array.from({ length: 17 }, () => ({ type: PROTO.HOPOPT })) })) },
  ip_version_unknown: { frame: B.bytes([0x75], B.zeros(39)), linkType: LinkType.RAW },
  tcp_truncated: { frame: eth4(B.ipv4({ proto: PROTO.TCP }, B.zeros(19))) },
  tcp_bad_header_length: { frame: eth4(B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 1, dport: 2, dataOffset: 3 }))) },
  udp_truncated: { frame: eth4(B.ipv4({ proto: PROTO.UDP }, B.zeros(7))) },
  udp_bad_length: { frame: eth4(B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1, dport: 2, length: 4 }))) },
  icmp_truncated: { frame: eth4(B.ipv4({ proto: PROTO.ICMP }, [8, 0, 0])) },
  gre_truncated: { frame: eth4(B.ipv4({ proto: PROTO.GRE }, [0, 0, 8])) },
  gre_unsupported: { frame: greTunnel({ proto: ETH.IPV4, version: 2 }, tcpIp()) },
  erspan_truncated: { frame: greTunnel({ proto: ETH.ERSPAN_1_2, seq: 1 }, B.bytes([0x10, 0, 0])) },
  vxlan_truncated: { frame: udpTunnel(4790, B.vxlanGpe(200, 1, tcpIp())) },
  // Option length 63 words (252 bytes) in a payload far shorter than that.
  geneve_truncated: { frame: udpTunnel(6081, B.bytes([0x3f, 0, 0x65, 0x58, 0, 0, 0, 0], B.zeros(20))) },
  gtp_truncated: { frame: udpTunnel(2152, B.gtpu({}, B.bytes([0x10], B.zeros(30)))) },
  nsh_truncated: { frame: B.ethernet(ETH.NSH, [0x0f, 0x02, 0x02]) },
  tunnel_too_deep: {
    frame: (() => {
      let ip = tcpIp();
      for (let i = 0; i < 9; i++) ip = B.ipv4({ proto: PROTO.IPIP }, ip);
      return ip;
    })(),
    linkType: LinkType.RAW,
  },
  vntag_truncated: { frame: B.ethernet(ETH.VNTAG, [0, 0, 0, 0, 8]) },
  fabricpath_truncated: { frame: B.ethernet(ETH.FABRICPATH, B.zeros(15)) },
  fragment_l4_header_split: { frame: eth4(B.ipv4({ proto: PROTO.TCP, mf: true }, B.zeros(16))) },
};

/** Anomalies: the packet is still a flow. */
const anomalies: Partial<Record<DecodeErrorName, Case>> = {
  udp_length_exceeds_ip: { frame: eth4(B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1, dport: 2, length: 100 }))) },
  tcp_bad_option: { frame: eth4(B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 1, dport: 2, options: [2, 0, 0, 0] }))) },
  ipv4_total_length_zero: { frame: eth4(B.ipv4({ proto: PROTO.TCP, totalLength: 0 }, B.tcp({ sport: 1, dport: 2 }))) },
};

/**
 * Reasons no packet can produce. teredo_truncated: decodeTeredo falls back to a plain UDP flow whenever the
 * inner IPv6 header is incomplete, so the name is declared but never used.
 */
const unreachable: DecodeErrorName[] = ['teredo_truncated'];


describe('every DecodeError reason, from a minimal malformed packet', () => {
  for (const [name, c] of Object.entries(fatal) as [DecodeErrorName, Case][]) {
    it(name, () => {
      const d = decode(c.frame, { linkType: c.linkType ?? 1, captured: c.captured, wire: c.wire });
      expect({ result: resultName(d.result), error: d.error }).toEqual({ result: 'error', error: name });
      expect(d.pkt.error).toBe(DecodeError[name]);
    });
  }
  for (const [name, c] of Object.entries(anomalies) as [DecodeErrorName, Case][]) {
    it(`${name} (anomaly: still a flow)`, () => {
      const d = decode(c.frame, { linkType: c.linkType ?? 1 });
      expect({ result: resultName(d.result), error: d.error, anomaly: d.anomaly }).toEqual({ result: 'flow', error: 'none', anomaly: name });
    });
  }

  it('every declared reason has a case (or is listed as unreachable)', () => {
    const covered = new Set<string>([...Object.keys(fatal), ...Object.keys(anomalies), ...unreachable, 'none']);
    const missing = Object.keys(DecodeError).filter((n) => !covered.has(n));
    expect(missing).toEqual([]);
  });
});

describe('the reason table itself', () => {
  it('codes are unique, dense from 0, and names map back to codes', () => {
    const codes = Object.values(DecodeError);
    expect(new Set(codes).size).toBe(codes.length);
    expect(DECODE_ERROR_COUNT).toBe(codes.length);
    expect([...codes].sort((a, b) => a - b)).toEqual(Array.from({ length: codes.length }, (_, i) => i));
    for (const [name, code] of Object.entries(DecodeError)) expect(decodeErrorNames[code]).toBe(name);
  });

  it('decodeErrorsToObject keeps non-zero counters by name', () => {
    const counts = new Float64Array(DECODE_ERROR_COUNT);
    counts[DecodeError.tcp_truncated] = 3;
    counts[DecodeError.fragment_l4_header_split] = 1;
    counts[DecodeError.none] = 99;
    expect(decodeErrorsToObject(counts)).toEqual({ tcp_truncated: 3, fragment_l4_header_split: 1 });
  });
});

describe('a captured length past the end of the buffer', () => {
  it('is a truncated packet, never a read past the buffer (the decoder reads through a DataView, which would throw)', () => {
    const frame = eth4(B.ipv4({ proto: B.PROTO.TCP }, B.tcp({ sport: 1, dport: 2 }, B.pattern(10))));
    const pkt = new DecodedPacket();
    const got: string[] = [];
    for (const cut of [13, 20, 33, 40, 53]) {
      const r = decodePacket(pkt, frame.subarray(0, cut), 0, frame.length, frame.length, LinkType.ETHERNET);
      got.push(`${r === DecodeResult.error ? decodeErrorNames[pkt.error] : r}`);
    }
    expect(got).toEqual(['ethernet_truncated', 'ipv4_truncated', 'ipv4_truncated', 'tcp_truncated', 'tcp_truncated']);
  });
});
