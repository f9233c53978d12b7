import { describe, expect, it } from 'vitest';
import * as B from '../support/packet-builder.js';
import { LEAD, decode, expectError, expectFlow, expectNoFlow, expectTuple, resultName } from './decode-helpers.js';

const { ETH, PROTO, TCP_FLAGS: F } = B;

describe('builder sanity', () => {
  it('IPv4 header checksum verifies (sum over the header is 0xffff)', () => {
    const ip = B.ipv4({ src: '172.16.5.4', dst: '8.8.8.8', proto: PROTO.UDP, options: [0x94, 4, 0, 0] }, B.pattern(9));
    expect(B.internetChecksum(ip, 0, 24)).toBe(0);
    // RFC 1071 example header from Wikipedia: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7
    const known = B.ipv4({ src: '192.168.0.1', dst: '192.168.0.199', proto: 17, ttl: 64, id: 0, df: true, totalLength: 0x73 });
    expect(B.readBe16(known, 10)).toBe(0xb861);
  });
});

describe('IPv4', () => {
  it('header with options: header length, L4 offset, payload length from the total length', () => {
    const opts = [0x94, 0x04, 0x00, 0x00, 0x01, 0x07, 0x07, 0x00, 0, 0, 0, 0]; // router alert, NOP, record route
    const frame = B.ethernet(ETH.IPV4, B.ipv4({ src: '1.2.3.4', dst: '5.6.7.8', proto: PROTO.UDP, options: opts, ttl: 1, id: 7 }, B.udp({ sport: 67, dport: 68 }, B.pattern(300))));
    const p = expectFlow(frame);
    expect(p.ipHeaderLength).toBe(32);
    expect(p.ipTotalLength).toBe(32 + 8 + 300);
    expect(p.l4Offset).toBe(LEAD + 14 + 32);
    expect(p.payloadOffset).toBe(LEAD + 14 + 40);
    expect(p.payloadLength).toBe(300);
    expect([p.ttl, p.ipId]).toEqual([1, 7]);
    expectTuple(p, '1.2.3.4', '5.6.7.8', PROTO.UDP, 67, 68);
  });

  it('maximum header length (IHL 15, 40 bytes of options)', () => {
    const frame = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, options: new Array(40).fill(1) }, B.tcp({ sport: 1, dport: 2 })));
    const p = expectFlow(frame);
    expect([p.ipHeaderLength, p.l4Offset, p.srcPort, p.dstPort]).toEqual([60, LEAD + 74, 1, 2]);
  });

  it('DF alone is not a fragment', () => {
    const p = expectFlow(B.ethIpv4Tcp({ df: true, tcp: { sport: 1, dport: 2 } }));
    expect(p.isFragment).toBe(false);
  });

  it('Ethernet padding does not count as payload', () => {
    const ip = B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 80, dport: 5000, flags: F.ACK }));
    const frame = B.ethernet(ETH.IPV4, B.bytes(ip, B.zeros(6)));
    expect(frame.length).toBe(60);
    const p = expectFlow(frame);
    expect([p.ipTotalLength, p.payloadLength]).toEqual([40, 0]);
  });

  it('first fragment (MF, offset 0): a flow with ports, marked as fragment', () => {
    const frame = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, mf: true, id: 0x4242 }, B.tcp({ sport: 3000, dport: 80, seq: 5 }, B.pattern(1000))));
    const p = expectFlow(frame);
    expect([p.isFragment, p.srcPort, p.dstPort, p.seq, p.ipId, p.payloadLength]).toEqual([true, 3000, 80, 5, 0x4242, 1000]);
  });

  it('later fragments are noFlow ipv4_fragment, with addresses and id still decoded', () => {
    for (const mf of [true, false]) {
      const frame = B.ethernet(ETH.IPV4, B.ipv4({ src: '9.9.9.9', dst: '1.1.1.1', proto: PROTO.UDP, mf, fragOffset: 185, id: 99 }, B.pattern(64)));
      const p = expectNoFlow(frame, 'ipv4_fragment');
      expect([p.isFragment, p.ipId, p.ipVersion, p.src3, p.dst3, p.srcPort]).toEqual([true, 99, 4, B.ipv4Word('9.9.9.9'), B.ipv4Word('1.1.1.1'), 0]);
    }
  });

  it('first fragment too short for the L4 header is fragment_l4_header_split (TCP and UDP)', () => {
    const tcpPart = B.tcp({ sport: 1, dport: 2 }).subarray(0, 8);
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, mf: true }, tcpPart)), 'fragment_l4_header_split');
    const udpPart = B.udp({ sport: 1, dport: 2 }, B.pattern(8)).subarray(0, 4);
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.UDP, mf: true }, udpPart)), 'fragment_l4_header_split');
    // TCP options split off: the base header fits, the stated header length does not.
    const withOpts = B.tcp({ sport: 1, dport: 2, options: B.tcpOptions({ mss: 1, timestamps: [1, 2], wscale: 2, sackPermitted: true }) }).subarray(0, 24);
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, mf: true }, withOpts)), 'fragment_l4_header_split');
  });

  it('the same short L4 header without fragmentation is tcp_truncated / udp_truncated', () => {
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 1, dport: 2 }).subarray(0, 8))), 'tcp_truncated');
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1, dport: 2 }).subarray(0, 4))), 'udp_truncated');
  });

  it('total length zero (segmentation offload): anomaly, length taken from the wire', () => {
    const frame = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, totalLength: 0 }, B.tcp({ sport: 1, dport: 2 }, B.pattern(2000))));
    const d = decode(frame);
    expect([resultName(d.result), d.error, d.anomaly]).toEqual(['flow', 'none', 'ipv4_total_length_zero']);
    expect([d.pkt.ipTotalLength, d.pkt.payloadLength]).toEqual([2040, 2000]);
  });

  it('bad version, header length, total length, truncation', () => {
    const good = B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 1, dport: 2 }));
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, version: 6 }, B.tcp({ sport: 1, dport: 2 }))), 'ipv4_bad_version');
    for (let ihl = 0; ihl < 5; ihl++) {
      expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, ihl }, B.tcp({ sport: 1, dport: 2 }))), 'ipv4_bad_header_length');
    }
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, totalLength: 19 }, B.tcp({ sport: 1, dport: 2 }))), 'ipv4_bad_total_length');
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, totalLength: 41 }, B.tcp({ sport: 1, dport: 2 }))), 'ipv4_bad_total_length');
    // IHL larger than the stated total length.
    expectError(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, options: B.zeros(20), totalLength: 30 }, B.tcp({ sport: 1, dport: 2 }))), 'ipv4_bad_total_length');
    for (let cap = 14; cap < 34; cap++) expectError(B.ethernet(ETH.IPV4, good), 'ipv4_truncated', { captured: cap });
    // IHL says 24 bytes, only 20 captured.
    const withOpt = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, options: [1, 1, 1, 1] }, B.tcp({ sport: 1, dport: 2 })));
    expectError(withOpt, 'ipv4_truncated', { captured: 34 });
  });

  it('snap-length cut: still a flow when the L4 header is there, payload length from the IP header', () => {
    const frame = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP }, B.tcp({ sport: 443, dport: 50000, seq: 77, flags: F.ACK | F.PSH }, B.pattern(1400))));
    for (const cap of [54, 64, 96]) {
      const p = expectFlow(frame, { captured: cap, wire: frame.length });
      expect([p.payloadLength, p.ipTotalLength, p.seq, p.srcPort, p.wireExtra]).toEqual([1400, 1440, 77, 443, frame.length - cap]);
    }
    expectError(frame, 'tcp_truncated', { captured: 53, wire: frame.length });
    const u = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 5000, dport: 5001 }, B.pattern(1200))));
    const pu = expectFlow(u, { captured: 42, wire: u.length });
    expect(pu.payloadLength).toBe(1200);
    expectError(u, 'udp_truncated', { captured: 41, wire: u.length });
  });

  it('snap-length cut does not hide a total length larger than the wire length', () => {
    const frame = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.TCP, totalLength: 1500 }, B.tcp({ sport: 1, dport: 2 }, B.pattern(100))));
    expectError(frame, 'ipv4_bad_total_length', { captured: 64, wire: frame.length });
    expectFlow(frame, { captured: 64, wire: 14 + 1500 });
  });
});

describe('IPv6', () => {
  it('basic header: addresses as four words, hop limit, lengths', () => {
    const frame = B.ethernet(ETH.IPV6, B.ipv6({ src: '2001:db8:85a3::8a2e:370:7334', dst: 'fe80::1', next: PROTO.TCP, hopLimit: 255 }, B.tcp({ sport: 22, dport: 60000, seq: 1, ack: 2, flags: F.ACK, window: 512 }, B.pattern(77))));
    const p = expectFlow(frame);
    expectTuple(p, '2001:db8:85a3::8a2e:370:7334', 'fe80::1', PROTO.TCP, 22, 60000);
    expect([p.src0, p.src1, p.src2, p.src3]).toEqual([0x20010db8, 0x85a30000, 0x00008a2e, 0x03707334]);
    expect([p.ttl, p.ipHeaderLength, p.ipTotalLength, p.ipOffset, p.l4Offset, p.payloadLength, p.window]).toEqual([255, 40, 40 + 20 + 77, LEAD + 14, LEAD + 54, 77, 512]);
    expect(p.isFragment).toBe(false);
  });

  it('hop-by-hop, routing, destination options, then UDP', () => {
    const exts: B.Ipv6Extension[] = [
      { type: PROTO.HOPOPT },
      { type: PROTO.ROUTING, body: B.bytes([4, 0], B.zeros(4), B.ipv6Bytes('2001:db8::99')) }, // type 4, 24 bytes
      { type: PROTO.DSTOPTS, body: B.bytes([1, 12], B.zeros(12)) }, // 16 bytes
    ];
    const frame = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.UDP, extensions: exts }, B.udp({ sport: 1000, dport: 2000 }, B.pattern(5))));
    const p = expectFlow(frame);
    expect([p.ipHeaderLength, p.l4Offset, p.l4Protocol, p.srcPort, p.dstPort, p.payloadLength]).toEqual([40 + 8 + 24 + 16, LEAD + 14 + 88, PROTO.UDP, 1000, 2000, 5]);
  });

  it('AH (length in 4-byte units) and mobility header', () => {
    const frame = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.AH }, { type: PROTO.MOBILITY }] }, B.tcp({ sport: 5, dport: 6 })));
    const p = expectFlow(frame);
    expect([p.ipHeaderLength, p.srcPort, p.dstPort]).toEqual([40 + 24 + 8, 5, 6]);
  });

  it('no next header (59): a flow without ports', () => {
    const p = expectFlow(B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.NONE })));
    expect([p.l4Protocol, p.srcPort, p.dstPort, p.payloadLength]).toEqual([59, 0, 0, 0]);
  });

  it('first fragment: flow with ports, fragment id; later fragment: noFlow ipv6_fragment; atomic fragment: not a fragment', () => {
    const first = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.UDP, extensions: [{ type: PROTO.FRAGMENT, more: true, ident: 0xdeadbeef }] }, B.udp({ sport: 53, dport: 3333, length: 1000 }, B.pattern(100))));
    const d = decode(first);
    expect([resultName(d.result), d.error, d.anomaly]).toEqual(['flow', 'none', 'udp_length_exceeds_ip']);
    expect([d.pkt.isFragment, d.pkt.ipId, d.pkt.srcPort, d.pkt.dstPort, d.pkt.ipHeaderLength]).toEqual([true, 0xdeadbeef, 53, 3333, 48]);
    const later = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.UDP, extensions: [{ type: PROTO.FRAGMENT, fragOffset: 100, more: true }] }, B.pattern(64)));
    expect(expectNoFlow(later, 'ipv6_fragment').isFragment).toBe(true);
    const last = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.UDP, extensions: [{ type: PROTO.FRAGMENT, fragOffset: 1 }] }, B.pattern(64)));
    expectNoFlow(last, 'ipv6_fragment');
    const atomic = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.FRAGMENT }] }, B.tcp({ sport: 8, dport: 9 })));
    const pa = expectFlow(atomic);
    expect([pa.isFragment, pa.srcPort]).toEqual([false, 8]);
  });

  it('first fragment too short for the TCP header is fragment_l4_header_split', () => {
    const frame = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.FRAGMENT, more: true }] }, B.tcp({ sport: 1, dport: 2 }).subarray(0, 12)));
    expectError(frame, 'fragment_l4_header_split');
  });

  it('jumbogram: payload length 0 + hop-by-hop jumbo option; UDP length 0 means "to the end"', () => {
    const data = B.pattern(70000);
    const jumbo = 8 + 8 + data.length;
    const ip = B.ipv6({ next: PROTO.UDP, payloadLength: 0, extensions: [{ type: PROTO.HOPOPT, body: B.bytes([0xc2, 4], B.u32(jumbo)) }] }, B.udp({ sport: 7, dport: 8, length: 0 }, data));
    const p = expectFlow(ip, { linkType: 101 });
    expect([p.ipTotalLength, p.ipHeaderLength, p.payloadLength, p.srcPort]).toEqual([40 + jumbo, 48, data.length, 7]);
    // Snap-length cut jumbogram: still a flow, lengths from the headers.
    const cut = expectFlow(ip, { linkType: 101, captured: 100, wire: ip.length });
    expect(cut.payloadLength).toBe(data.length);
  });

  it('bad version, payload length past the wire, truncation', () => {
    const good = B.ipv6({ next: PROTO.TCP }, B.tcp({ sport: 1, dport: 2 }));
    expectError(B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, version: 4 }, B.tcp({ sport: 1, dport: 2 }))), 'ipv6_bad_version');
    expectError(B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, payloadLength: 21 }, B.tcp({ sport: 1, dport: 2 }))), 'ipv6_bad_payload_length');
    for (let cap = 14; cap < 54; cap++) expectError(B.ethernet(ETH.IPV6, good), 'ipv6_truncated', { captured: cap });
    // Payload length shorter than the TCP header: the L4 header does not fit in the IP payload.
    expectError(B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, payloadLength: 10 }, B.tcp({ sport: 1, dport: 2 }))), 'tcp_truncated');
  });

  it('extension header errors: ipv6_extension_truncated', () => {
    // Hop-by-hop says 16 bytes, the payload length allows 8.
    const hbh = B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.HOPOPT, body: B.zeros(14) }] }, B.tcp({ sport: 1, dport: 2 }));
    expectError(B.ethernet(ETH.IPV6, B.bytes(hbh.subarray(0, 4), B.u16(8), hbh.subarray(6, 48 + 8))), 'ipv6_extension_truncated');
    // Fragment header cut by the capture.
    const frag = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.FRAGMENT }] }, B.tcp({ sport: 1, dport: 2 })));
    for (let cap = 54; cap < 62; cap++) expectError(frag, 'ipv6_extension_truncated', { captured: cap });
    // Only the first byte of a destination-options header present within the payload length.
    const dst = B.ipv6({ next: PROTO.TCP, payloadLength: 1, extensions: [{ type: PROTO.DSTOPTS }] }, B.tcp({ sport: 1, dport: 2 }));
    expectError(dst, 'ipv6_extension_truncated', { linkType: 101 });
    // Routing header cut by the capture after its length byte.
    const rt = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.ROUTING, body: B.zeros(22) }] }, B.tcp({ sport: 1, dport: 2 })));
    expectError(rt, 'ipv6_extension_truncated', { captured: 14 + 40 + 10, wire: rt.length });
  });

  it('sixteen extension headers are accepted, seventeen are ipv6_too_many_extensions', () => {
    const exts = (n: number): B.Ipv6Extension[] => Array.from({ length: n }, () => ({ type: PROTO.DSTOPTS }));
    const p = expectFlow(B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: exts(16) }, B.tcp({ sport: 4, dport: 5 }))));
    expect([p.ipHeaderLength, p.srcPort]).toEqual([40 + 16 * 8, 4]);
    expectError(B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: exts(17) }, B.tcp({ sport: 4, dport: 5 }))), 'ipv6_too_many_extensions');
  });

  it('snap-length cut IPv6 TCP: flow with the payload length from the header', () => {
    const frame = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.TCP, extensions: [{ type: PROTO.HOPOPT }] }, B.tcp({ sport: 443, dport: 1025 }, B.pattern(1200))));
    const p = expectFlow(frame, { captured: 14 + 48 + 20, wire: frame.length });
    expect([p.payloadLength, p.ipTotalLength]).toEqual([1200, 40 + 8 + 20 + 1200]);
  });

  it('raw IP of an unknown version is ip_version_unknown', () => {
    const ip = B.ipv4({ proto: PROTO.TCP, version: 5 }, B.tcp({ sport: 1, dport: 2 }));
    expectError(ip, 'ip_version_unknown', { linkType: 101 });
    expectError(new Uint8Array(0), 'ipv4_truncated', { linkType: 101 });
  });
});
