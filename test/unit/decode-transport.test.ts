import { describe, expect, it } from 'vitest';
import * as B from '../support/packet-builder.js';
import { LEAD, decode, expectError, expectFlow, expectNoFlow, expectTuple, resultName } from './decode-helpers.js';

const { ETH, PROTO, TCP_FLAGS: F } = B;

const v4 = (proto: number, l4: Uint8Array, extra: Partial<B.Ipv4Options> = {}): Uint8Array =>
  B.ethernet(ETH.IPV4, B.ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ...extra, proto }, l4));
const v6 = (next: number, l4: Uint8Array): Uint8Array => B.ethernet(ETH.IPV6, B.ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next }, l4));

describe('TCP', () => {
  it('every flag bit is passed through', () => {
    for (const flags of [F.FIN, F.SYN, F.RST, F.PSH, F.ACK, F.URG, F.ECE, F.CWR, 0xff, 0]) {
      expect(expectFlow(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, flags }))).tcpFlags).toBe(flags);
    }
  });

  it('sequence and acknowledgement numbers are unsigned 32-bit', () => {
    const p = expectFlow(v4(PROTO.TCP, B.tcp({ sport: 65535, dport: 1, seq: 0xffffffff, ack: 0x80000000, window: 0 })));
    expect([p.seq, p.ack, p.window, p.srcPort]).toEqual([0xffffffff, 0x80000000, 0, 65535]);
  });

  it('MSS and window scale from the options, window scale capped at 14, absent = -1', () => {
    const syn = (o: B.TcpOptionSpec): Uint8Array => v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, flags: F.SYN, options: B.tcpOptions(o) }));
    let p = expectFlow(syn({ mss: 1380, wscale: 9 }));
    expect([p.mss, p.windowScale, p.tcpHeaderLength]).toEqual([1380, 9, 28]);
    p = expectFlow(syn({ wscale: 0 }));
    expect([p.mss, p.windowScale]).toEqual([0, 0]);
    p = expectFlow(syn({ wscale: 15 }));
    expect(p.windowScale).toBe(14);
    p = expectFlow(syn({ mss: 536, sackPermitted: true, timestamps: [5, 6] }));
    expect([p.mss, p.windowScale]).toEqual([536, -1]);
  });

  it('option parsing stops at end-of-list', () => {
    const opts = B.bytes([0], [2, 4], B.u16(1000), [3, 3, 5, 0]);
    const p = expectFlow(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, flags: F.SYN, options: opts })));
    expect([p.mss, p.windowScale]).toEqual([0, -1]);
  });

  it('a malformed option list is the tcp_bad_option anomaly, the packet still a flow', () => {
    for (const opts of [
      [2, 1, 0, 0], // length below 2
      [1, 1, 1, 2], // kind with no room for its length byte
      [2, 8, 0, 0], // length past the header
    ]) {
      const d = decode(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, options: opts }, B.pattern(8))));
      expect([resultName(d.result), d.error, d.anomaly, d.pkt.payloadLength]).toEqual(['flow', 'none', 'tcp_bad_option', 8]);
    }
  });

  it('options before a bad one are kept', () => {
    const opts = B.bytes([2, 4], B.u16(1200), [3, 3, 4], [8, 60, 0, 0, 0]);
    const d = decode(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, flags: F.SYN, options: opts })));
    expect([d.anomaly, d.pkt.mss, d.pkt.windowScale]).toEqual(['tcp_bad_option', 1200, 4]);
  });

  it('snap length cutting through the options: no tcp_bad_option anomaly, options before the cut kept', () => {
    // A 74-byte SYN (40-byte TCP header) captured with a 64-byte snap length: the timestamps option is cut.
    const frame = v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, flags: F.SYN, options: B.tcpOptions({ mss: 1460, sackPermitted: true, timestamps: [1, 2], wscale: 7 }) }));
    expect(frame.length).toBe(74);
    const d = decode(frame, { captured: 64, wire: 74 });
    expect([resultName(d.result), d.error, d.anomaly, d.pkt.mss, d.pkt.tcpHeaderLength]).toEqual(['flow', 'none', 'none', 1460, 40]);
  });

  it('bad data offset and truncation', () => {
    for (const dataOffset of [0, 1, 4]) expectError(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, dataOffset })), 'tcp_bad_header_length');
    expectError(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, dataOffset: 15 }, B.pattern(20))), 'tcp_bad_header_length');
    const frame = v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2 }));
    for (let cap = 34; cap < 54; cap++) expectError(frame, 'tcp_truncated', { captured: cap });
  });

  it('payload offset and length account for the options', () => {
    const p = expectFlow(v4(PROTO.TCP, B.tcp({ sport: 1, dport: 2, options: B.tcpOptions({ timestamps: [1, 2] }) }, B.pattern(33))));
    expect([p.tcpHeaderLength, p.payloadOffset, p.payloadLength]).toEqual([32, LEAD + 34 + 32, 33]);
  });

  it('over IPv6', () => {
    const p = expectFlow(v6(PROTO.TCP, B.tcp({ sport: 80, dport: 1024, flags: F.FIN | F.ACK, seq: 3, ack: 4 }, B.pattern(2))));
    expectTuple(p, '2001:db8::1', '2001:db8::2', PROTO.TCP, 80, 1024);
    expect([p.tcpFlags, p.seq, p.ack, p.payloadLength]).toEqual([F.FIN | F.ACK, 3, 4, 2]);
  });
});

describe('UDP', () => {
  it('ports and payload length from the UDP length', () => {
    const p = expectFlow(v4(PROTO.UDP, B.udp({ sport: 33333, dport: 443 }, B.pattern(1200))));
    expectTuple(p, '10.0.0.1', '10.0.0.2', PROTO.UDP, 33333, 443);
    expect([p.payloadOffset, p.payloadLength]).toEqual([LEAD + 42, 1200]);
  });

  it('UDP length shorter than the IP payload: UDP length wins', () => {
    const p = expectFlow(v4(PROTO.UDP, B.udp({ sport: 1, dport: 2, length: 8 + 10 }, B.pattern(50))));
    expect(p.payloadLength).toBe(10);
  });

  it('UDP length longer than the IP payload: anomaly, IP length wins', () => {
    const d = decode(v4(PROTO.UDP, B.udp({ sport: 1, dport: 2, length: 500 }, B.pattern(50))));
    expect([resultName(d.result), d.anomaly, d.pkt.payloadLength]).toEqual(['flow', 'udp_length_exceeds_ip', 50]);
  });

  it('UDP length below 8 is udp_bad_length (IPv4 zero too; IPv6 zero is a jumbogram)', () => {
    for (const length of [0, 1, 7]) expectError(v4(PROTO.UDP, B.udp({ sport: 1, dport: 2, length }, B.pattern(4))), 'udp_bad_length');
    const p = expectFlow(v6(PROTO.UDP, B.udp({ sport: 1, dport: 2, length: 0 }, B.pattern(4))));
    expect(p.payloadLength).toBe(4);
  });

  it('UDP-Lite (136) is keyed like UDP', () => {
    const p = expectFlow(v4(136, B.udp({ sport: 7000, dport: 7001, length: 8 }, B.pattern(20))));
    expect([p.l4Protocol, p.srcPort, p.dstPort]).toEqual([136, 7000, 7001]);
  });

  it('truncated header is udp_truncated', () => {
    const frame = v4(PROTO.UDP, B.udp({ sport: 1, dport: 2 }));
    for (let cap = 34; cap < 42; cap++) expectError(frame, 'udp_truncated', { captured: cap });
  });
});

describe('ICMP and ICMPv6', () => {
  it('echo request and reply: identifier as both ports', () => {
    for (const type of [8, 0]) {
      const p = expectFlow(v4(PROTO.ICMP, B.icmpEcho(type, 0x1f2e, 7, B.pattern(56))));
      expect([p.l4Protocol, p.icmpType, p.icmpCode, p.srcPort, p.dstPort, p.payloadLength]).toEqual([PROTO.ICMP, type, 0, 0x1f2e, 0x1f2e, 60]);
    }
    for (const type of [128, 129]) {
      const p = expectFlow(v6(PROTO.ICMPV6, B.icmpEcho(type, 0xabc, 1)));
      expect([p.l4Protocol, p.icmpType, p.srcPort, p.dstPort]).toEqual([PROTO.ICMPV6, type, 0xabc, 0xabc]);
    }
  });

  it('error messages are noFlow icmp_error', () => {
    const quoted = B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1, dport: 2 }));
    for (const type of [3, 4, 5, 11, 12]) {
      const p = expectNoFlow(v4(PROTO.ICMP, B.icmp(type, 1, B.bytes(B.zeros(4), quoted))), 'icmp_error');
      expect(p.icmpType).toBe(type);
    }
    for (const type of [1, 2, 3, 4]) expectNoFlow(v6(PROTO.ICMPV6, B.icmp(type, 0, B.zeros(44))), 'icmp_error');
  });

  it('informational messages other than echo are flows without ports', () => {
    const p = expectFlow(v4(PROTO.ICMP, B.icmp(13, 0, B.zeros(16)))); // timestamp request
    expect([p.icmpType, p.srcPort, p.dstPort]).toEqual([13, 0, 0]);
    const ns = expectFlow(v6(PROTO.ICMPV6, B.icmp(135, 0, B.zeros(20)))); // neighbour solicitation
    expect([ns.icmpType, ns.srcPort]).toEqual([135, 0]);
  });

  it('an echo cut before the identifier has no ports; fewer than 4 bytes is icmp_truncated', () => {
    const p = expectFlow(v4(PROTO.ICMP, B.icmp(8, 0, [])));
    expect([p.srcPort, p.dstPort]).toEqual([0, 0]);
    const frame = v4(PROTO.ICMP, B.icmpEcho(8, 1, 1));
    for (let cap = 34; cap < 38; cap++) expectError(frame, 'icmp_truncated', { captured: cap });
    expectError(v6(PROTO.ICMPV6, B.icmp(128, 0, []).subarray(0, 3)), 'icmp_truncated');
  });
});

describe('other IP protocols', () => {
  it('SCTP and DCCP: ports from the first four bytes', () => {
    const sctp = expectFlow(v4(PROTO.SCTP, B.bytes(B.u16(2905), B.u16(2906), B.zeros(8))));
    expect([sctp.l4Protocol, sctp.srcPort, sctp.dstPort, sctp.payloadLength]).toEqual([132, 2905, 2906, 12]);
    const dccp = expectFlow(v6(PROTO.DCCP, B.bytes(B.u16(5004), B.u16(5005), B.zeros(12))));
    expect([dccp.l4Protocol, dccp.srcPort, dccp.dstPort]).toEqual([33, 5004, 5005]);
  });

  it('ESP and unknown protocols: a flow without ports, payload length from IP', () => {
    const esp = expectFlow(v4(PROTO.ESP, B.pattern(64)));
    expect([esp.l4Protocol, esp.srcPort, esp.dstPort, esp.payloadLength, esp.payloadOffset]).toEqual([50, 0, 0, 64, LEAD + 34]);
    const ospf = expectFlow(v4(89, B.pattern(44)));
    expect([ospf.l4Protocol, ospf.payloadLength]).toEqual([89, 44]);
  });
});

describe('IP-in-IP', () => {
  const innerTcp = (): Uint8Array => B.ipv4({ src: '172.16.0.1', dst: '172.16.0.2', proto: PROTO.TCP, ttl: 9 }, B.tcp({ sport: 1111, dport: 2222 }, B.pattern(7)));
  const innerV6 = (): Uint8Array => B.ipv6({ src: 'fd::a', dst: 'fd::b', next: PROTO.UDP }, B.udp({ sport: 3, dport: 4 }, B.pattern(5)));

  it('IPv4 in IPv4: the inner 5-tuple, tunnel depth 1', () => {
    const p = expectFlow(v4(PROTO.IPIP, innerTcp()));
    expectTuple(p, '172.16.0.1', '172.16.0.2', PROTO.TCP, 1111, 2222);
    expect([p.tunnelDepth, p.ttl, p.payloadLength, p.ipOffset]).toEqual([1, 9, 7, LEAD + 34]);
  });

  it('6in4, 4in6 and 6in6', () => {
    let p = expectFlow(v4(PROTO.IPV6, innerV6()));
    expectTuple(p, 'fd::a', 'fd::b', PROTO.UDP, 3, 4);
    expect(p.tunnelDepth).toBe(1);
    p = expectFlow(v6(PROTO.IPIP, innerTcp()));
    expectTuple(p, '172.16.0.1', '172.16.0.2', PROTO.TCP, 1111, 2222);
    p = expectFlow(v6(PROTO.IPV6, innerV6()));
    expectTuple(p, 'fd::a', 'fd::b', PROTO.UDP, 3, 4);
  });

  it('eight nested tunnels decode, nine are tunnel_too_deep', () => {
    const nest = (n: number): Uint8Array => {
      let ip = innerTcp();
      for (let i = 0; i < n; i++) ip = B.ipv4({ proto: PROTO.IPIP }, ip);
      return B.ethernet(ETH.IPV4, ip);
    };
    const p = expectFlow(nest(8));
    expect(p.tunnelDepth).toBe(8);
    expectTuple(p, '172.16.0.1', '172.16.0.2', PROTO.TCP, 1111, 2222);
    expectError(nest(9), 'tunnel_too_deep');
  });

  it('inner packet errors are reported as such', () => {
    expectError(v4(PROTO.IPIP, innerTcp().subarray(0, 19)), 'ipv4_truncated');
    expectError(v4(PROTO.IPV6, innerV6().subarray(0, 39)), 'ipv6_truncated');
  });
});
