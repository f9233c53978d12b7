import { describe, expect, it } from 'vitest';
import { DecodeResult } from '../../src/decode/decoded-packet.js';
import * as B from '../support/packet-builder.js';
import { LEAD, decode, expectError, expectFlow, expectTuple, resultName } from './decode-helpers.js';

const { ETH, PROTO, TCP_FLAGS: F } = B;

/** The mirrored/tunnelled packet every test looks for. */
const INNER = { src: '192.168.50.1', dst: '192.168.50.2', sport: 44321, dport: 8443 } as const;
const innerIp = (payload = 25): Uint8Array =>
  B.ipv4({ src: INNER.src, dst: INNER.dst, proto: PROTO.TCP, ttl: 63 }, B.tcp({ sport: INNER.sport, dport: INNER.dport, seq: 1000, ack: 2000, flags: F.ACK | F.PSH }, B.pattern(payload)));
const innerIp6 = (): Uint8Array => B.ipv6({ src: 'fd00:1::1', dst: 'fd00:1::2', next: PROTO.UDP }, B.udp({ sport: 5060, dport: 5061 }, B.pattern(9)));
const innerFrame = (vlans: B.EthernetOptions['vlans'] = []): Uint8Array => B.ethernet(ETH.IPV4, innerIp(), { vlans });

/** Outer transport: Ethernet (VLAN 10) / IPv4 / GRE. */
const overGre = (g: B.GreOptions, payload: Uint8Array): Uint8Array =>
  B.ethernet(ETH.IPV4, B.ipv4({ src: '10.9.9.1', dst: '10.9.9.2', proto: PROTO.GRE }, B.gre(g, payload)), { vlans: [10] });
/** Outer transport: Ethernet (VLAN 10) / IPv4 / UDP. */
const overUdp = (dport: number, payload: Uint8Array, sport = 54321): Uint8Array =>
  B.ethernet(ETH.IPV4, B.ipv4({ src: '10.9.9.1', dst: '10.9.9.2', proto: PROTO.UDP }, B.udp({ sport, dport }, payload)), { vlans: [10] });

function expectInner(frame: Uint8Array, depth = 1): ReturnType<typeof expectFlow> {
  const p = expectFlow(frame);
  expectTuple(p, INNER.src, INNER.dst, PROTO.TCP, INNER.sport, INNER.dport);
  expect([p.tunnelDepth, p.ttl, p.seq, p.ack, p.payloadLength]).toEqual([depth, 63, 1000, 2000, 25]);
  return p;
}

const vlans = (p: { vlanCount: number; vlan0: number; vlan1: number }): number[] => [p.vlanCount, p.vlan0, p.vlan1];

describe('GRE', () => {
  it('v0 carrying IPv4, with every optional field', () => {
    for (const g of [{}, { checksum: true }, { key: 0x1234 }, { seq: 9 }, { checksum: true, key: 1, seq: 2 }]) {
      const p = expectInner(overGre({ proto: ETH.IPV4, ...g }, innerIp()));
      const extra = ((g as B.GreOptions).checksum ? 4 : 0) + ((g as B.GreOptions).key !== undefined ? 4 : 0) + ((g as B.GreOptions).seq !== undefined ? 4 : 0);
      expect(p.ipOffset).toBe(LEAD + 18 + 20 + 4 + extra);
      // An IP-in-GRE tunnel has no inner frame: the transport's tags stay.
      expect(vlans(p)).toEqual([1, 10, 0]);
    }
  });

  it('v0 carrying IPv6 and MPLS', () => {
    const p6 = expectFlow(overGre({ proto: ETH.IPV6 }, innerIp6()));
    expectTuple(p6, 'fd00:1::1', 'fd00:1::2', PROTO.UDP, 5060, 5061);
    expectInner(overGre({ proto: ETH.MPLS }, B.mpls([77], innerIp())));
  });

  it('v1 (PPTP) carrying PPP carrying IPv4, with sequence and acknowledgement', () => {
    for (const g of [{}, { seq: 1 }, { seq: 1, ack: 2 }, { ack: 3 }]) {
      expectInner(overGre({ proto: ETH.PPP, version: 1, ...g }, B.ppp(0x21, innerIp())));
    }
  });

  it('GRE over IPv6', () => {
    const frame = B.ethernet(ETH.IPV6, B.ipv6({ next: PROTO.GRE }, B.gre({ proto: ETH.IPV4, key: 5 }, innerIp())));
    expectInner(frame);
  });

  it('routing present or version 2+ is gre_unsupported; a cut header is gre_truncated', () => {
    expectError(overGre({ proto: ETH.IPV4, routing: true }, innerIp()), 'gre_unsupported');
    for (const version of [2, 3, 7]) expectError(overGre({ proto: ETH.IPV4, version }, innerIp()), 'gre_unsupported');
    const frame = overGre({ proto: ETH.IPV4, key: 1, seq: 2 }, innerIp());
    for (let cap = 18 + 20; cap < 18 + 20 + 12; cap++) expectError(frame, 'gre_truncated', { captured: cap });
  });

  it('GRE with a non-IP EtherType is noFlow', () => {
    expect(resultName(decode(overGre({ proto: ETH.ARP }, B.zeros(28))).result)).toBe('noFlow');
  });

  it('transparent Ethernet bridging: the inner frame tags replace the transport tags (as for VXLAN)', () => {
    const tagged = expectInner(overGre({ proto: ETH.TEB }, innerFrame([200])));
    expect(vlans(tagged)).toEqual([1, 200, 0]);
    const untagged = expectInner(overGre({ proto: ETH.TEB }, innerFrame()));
    expect(vlans(untagged)).toEqual([0, 0, 0]);
  });
});

describe('ERSPAN', () => {
  const erspan2 = (vlan: number, frame: Uint8Array): Uint8Array => overGre({ proto: ETH.ERSPAN_1_2, seq: 1 }, B.erspan2({ vlan }, frame));
  const erspan3 = (o: Parameters<typeof B.erspan3>[0], payload: Uint8Array): Uint8Array => overGre({ proto: ETH.ERSPAN_3, seq: 1 }, B.erspan3(o, payload));

  it('type I (no sequence, no header): the mirrored frame with its own tags', () => {
    expect(vlans(expectInner(overGre({ proto: ETH.ERSPAN_1_2 }, innerFrame([400]))))).toEqual([1, 400, 0]);
    expect(vlans(expectInner(overGre({ proto: ETH.ERSPAN_1_2 }, innerFrame())))).toEqual([0, 0, 0]);
  });

  it('type II: header VLAN counts only when the mirrored frame is untagged; transport tags never count', () => {
    const p = expectInner(erspan2(300, innerFrame()));
    expect(vlans(p)).toEqual([1, 300, 0]);
    expect(p.ipOffset).toBe(LEAD + 18 + 20 + 8 + 8 + 14);
    expect(vlans(expectInner(erspan2(300, innerFrame([400]))))).toEqual([1, 400, 0]);
    expect(vlans(expectInner(erspan2(300, innerFrame(B.qinq(500, 600)))))).toEqual([2, 500, 600]);
    expect(vlans(expectInner(erspan2(0, innerFrame())))).toEqual([0, 0, 0]);
  });

  it('type II cut header is erspan_truncated', () => {
    const frame = erspan2(300, innerFrame());
    for (let cap = 18 + 20 + 8; cap < 18 + 20 + 8 + 8; cap++) expectError(frame, 'erspan_truncated', { captured: cap });
  });

  it('type III: header VLAN rule, optional platform sub-header', () => {
    const p = expectInner(erspan3({ vlan: 301 }, innerFrame()));
    expect(vlans(p)).toEqual([1, 301, 0]);
    expect(p.ipOffset).toBe(LEAD + 18 + 20 + 8 + 12 + 14);
    const pp = expectInner(erspan3({ vlan: 302, platform: true, hwId: 0x3f }, innerFrame([7])));
    expect(vlans(pp)).toEqual([1, 7, 0]);
    expect(pp.ipOffset).toBe(LEAD + 18 + 20 + 8 + 20 + 18);
  });

  it('type III frame type 2 carries a bare IP packet (v4 or v6)', () => {
    const p = expectInner(erspan3({ vlan: 1, frameType: 2 }, innerIp()));
    expect(p.ipOffset).toBe(LEAD + 18 + 20 + 8 + 12);
    const p6 = expectFlow(erspan3({ vlan: 1, frameType: 2, platform: true }, innerIp6()));
    expectTuple(p6, 'fd00:1::1', 'fd00:1::2', PROTO.UDP, 5060, 5061);
  });

  it('type III frame type 2 cut right after the header: the outcome depends only on captured bytes', () => {
    const frame = erspan3({ vlan: 1, frameType: 2 }, innerIp());
    const captured = 18 + 20 + 8 + 12; // nothing of the IP packet captured
    const a = decode(frame, { captured, wire: frame.length, junk: 0x45 });
    const outcomeA = [resultName(a.result), a.error];
    const b = decode(frame, { captured, wire: frame.length, junk: 0x60 });
    expect([resultName(b.result), b.error]).toEqual(outcomeA);
    expect(outcomeA[0]).toBe('error');
  });

  it('type III cut header or platform sub-header is erspan_truncated', () => {
    const frame = erspan3({ vlan: 1 }, innerFrame());
    for (let cap = 18 + 20 + 8; cap < 18 + 20 + 8 + 12; cap++) expectError(frame, 'erspan_truncated', { captured: cap });
    const plat = erspan3({ vlan: 1, platform: true }, innerFrame());
    expectError(plat, 'erspan_truncated', { captured: 18 + 20 + 8 + 12 + 7 });
  });
});

describe('UDP tunnels', () => {
  it('VXLAN: the inner frame tags replace the transport tags', () => {
    const p = expectInner(overUdp(4789, B.vxlan(5001, innerFrame([20]))));
    expect(vlans(p)).toEqual([1, 20, 0]);
    expect(p.ipOffset).toBe(LEAD + 18 + 20 + 8 + 8 + 18);
    expect(vlans(expectInner(overUdp(4789, B.vxlan(5001, innerFrame()))))).toEqual([0, 0, 0]);
    expect(vlans(expectInner(overUdp(4789, B.vxlan(1, innerFrame(B.qinq(30, 40))))))).toEqual([2, 30, 40]);
  });

  it('a VXLAN-looking payload from source port 4789 to another port stays plain UDP (only the destination port names VXLAN)', () => {
    const p = expectFlow(overUdp(60000, B.vxlan(7, innerFrame()), 4789));
    expect([p.tunnelDepth, p.srcPort, p.dstPort]).toEqual([0, 4789, 60000]);
  });

  it('VXLAN without the I flag, or too short for an inner frame, stays a plain UDP flow', () => {
    const p = expectFlow(overUdp(4789, B.vxlan(7, innerFrame(), 0x00)));
    expect([p.tunnelDepth, p.srcPort, p.dstPort, p.vlan0]).toEqual([0, 54321, 4789, 10]);
    const short = expectFlow(overUdp(4789, B.vxlan(7, B.zeros(13))));
    expect([short.tunnelDepth, short.dstPort]).toEqual([0, 4789]);
  });

  it('VXLAN inner frame errors are reported from the inner layer', () => {
    const frame = overUdp(4789, B.vxlan(1, innerFrame()));
    expectError(frame, 'ethernet_truncated', { captured: 18 + 20 + 8 + 8 + 10, wire: frame.length });
  });

  it('snap-length cut inside the tunnel: inner flow with the inner payload length', () => {
    const frame = overUdp(4789, B.vxlan(1, B.ethernet(ETH.IPV4, innerIp(1300))));
    const cap = 18 + 20 + 8 + 8 + 14 + 20 + 20;
    const p = expectFlow(frame, { captured: cap, wire: frame.length });
    expectTuple(p, INNER.src, INNER.dst, PROTO.TCP, INNER.sport, INNER.dport);
    expect(p.payloadLength).toBe(1300);
  });

  it('VXLAN-GPE: IPv4, IPv6, Ethernet, NSH and MPLS next protocols', () => {
    expectInner(overUdp(4790, B.vxlanGpe(1, 3, innerIp())));
    const p6 = expectFlow(overUdp(4790, B.vxlanGpe(2, 3, innerIp6())));
    expectTuple(p6, 'fd00:1::1', 'fd00:1::2', PROTO.UDP, 5060, 5061);
    expect(vlans(expectInner(overUdp(4790, B.vxlanGpe(3, 3, innerFrame([33])))))).toEqual([1, 33, 0]);
    expectInner(overUdp(4790, B.vxlanGpe(4, 3, B.nsh(1, innerIp()))), 2);
    expectInner(overUdp(4790, B.vxlanGpe(5, 3, B.mpls([16, 17], innerIp()))));
    // No P flag: plain VXLAN on the GPE port.
    expectInner(overUdp(4790, B.vxlan(3, innerFrame())));
  });

  it('VXLAN-GPE unknown next protocol is vxlan_truncated', () => {
    expectError(overUdp(4790, B.vxlanGpe(9, 3, innerIp())), 'vxlan_truncated');
  });

  it('Geneve: Ethernet, IPv4, IPv6 payloads, with options', () => {
    const p = expectInner(overUdp(6081, B.geneve({ proto: ETH.TEB, optionWords: 2 }, innerFrame([21]))));
    expect(vlans(p)).toEqual([1, 21, 0]);
    expect(p.ipOffset).toBe(LEAD + 18 + 20 + 8 + 16 + 18);
    expectInner(overUdp(6081, B.geneve({ proto: ETH.IPV4 }, innerIp())));
    const p6 = expectFlow(overUdp(6081, B.geneve({ proto: ETH.IPV6, optionWords: 1 }, innerIp6())));
    expectTuple(p6, 'fd00:1::1', 'fd00:1::2', PROTO.UDP, 5060, 5061);
  });

  it('Geneve options past the capture are geneve_truncated; an unknown protocol or version 1 is plain UDP', () => {
    const frame = overUdp(6081, B.geneve({ proto: ETH.TEB, optionWords: 4 }, innerFrame()));
    expectError(frame, 'geneve_truncated', { captured: 18 + 20 + 8 + 8 + 10, wire: frame.length });
    const unknown = expectFlow(overUdp(6081, B.geneve({ proto: 0x1234 }, innerFrame())));
    expect([unknown.tunnelDepth, unknown.dstPort]).toEqual([0, 6081]);
    const v1 = expectFlow(overUdp(6081, B.geneve({ proto: ETH.TEB, version: 1 }, innerFrame())));
    expect([v1.tunnelDepth, v1.dstPort]).toEqual([0, 6081]);
  });

  it('GTP-U G-PDU: IPv4 and IPv6 users, with sequence number and extension headers', () => {
    expectInner(overUdp(2152, B.gtpu({}, innerIp())));
    expectInner(overUdp(2152, B.gtpu({ seq: 5 }, innerIp())));
    expectInner(overUdp(2152, B.gtpu({ extensions: [[0x00, 0x09], B.pattern(6)] }, innerIp())));
    const p6 = expectFlow(overUdp(2152, B.gtpu({ teid: 1 }, innerIp6())));
    expectTuple(p6, 'fd00:1::1', 'fd00:1::2', PROTO.UDP, 5060, 5061);
  });

  it('GTP signalling (not a G-PDU) stays a UDP flow; broken G-PDUs are gtp_truncated', () => {
    const echo = expectFlow(overUdp(2152, B.gtpu({ type: 1 }, B.zeros(4))));
    expect([echo.tunnelDepth, echo.dstPort]).toEqual([0, 2152]);
    // Extension with length 0.
    const zeroExt = B.gtpu({ extensions: [[1, 2]] }, innerIp());
    zeroExt[12] = 0;
    expectError(overUdp(2152, zeroExt), 'gtp_truncated');
    // Inner packet neither IPv4 nor IPv6.
    const bad = B.gtpu({}, innerIp());
    bad[8] = 0x50;
    expectError(overUdp(2152, bad), 'gtp_truncated');
    // Optional fields cut by the capture.
    const withSeq = overUdp(2152, B.gtpu({ seq: 1 }, innerIp()));
    expectError(withSeq, 'gtp_truncated', { captured: 18 + 20 + 8 + 10, wire: withSeq.length });
  });

  it('Teredo: IPv6 in UDP, with and without origin indication; not IPv6 = plain UDP', () => {
    for (const origin of [false, true]) {
      const p = expectFlow(overUdp(3544, B.teredo(innerIp6(), origin)));
      expectTuple(p, 'fd00:1::1', 'fd00:1::2', PROTO.UDP, 5060, 5061);
      expect(p.tunnelDepth).toBe(1);
    }
    const plain = expectFlow(overUdp(3544, B.pattern(60)));
    expect([plain.tunnelDepth, plain.dstPort, plain.payloadLength]).toEqual([0, 3544, 60]);
  });

  it('GRE-in-UDP (4754) and MPLS-in-UDP (6635)', () => {
    expectInner(overUdp(4754, B.gre({ proto: ETH.IPV4 }, innerIp())));
    expectInner(overUdp(6635, B.mpls([1000], innerIp())));
  });

  it('nine nested VXLAN tunnels are tunnel_too_deep, eight decode', () => {
    const nest = (n: number): Uint8Array => {
      let f = innerFrame();
      for (let i = 0; i < n; i++) f = B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1000 + i, dport: 4789 }, B.vxlan(i, f))));
      return f;
    };
    expectInner(nest(8), 8);
    expectError(nest(9), 'tunnel_too_deep');
  });

  it('mixed nesting counts every tunnel: GRE in VXLAN in IP-in-IP', () => {
    const gre = B.ipv4({ proto: PROTO.GRE }, B.gre({ proto: ETH.IPV4 }, innerIp()));
    const vx = B.ipv4({ proto: PROTO.UDP }, B.udp({ sport: 1, dport: 4789 }, B.vxlan(1, B.ethernet(ETH.IPV4, gre))));
    expectInner(B.ethernet(ETH.IPV4, B.ipv4({ proto: PROTO.IPIP }, vx)), 3);
  });
});

describe('a UDP payload that only happens to use a tunnel port stays a plain UDP flow', () => {
  // A DNS query (transaction id 0x1234) from a client whose (NAT-assigned) source port is a tunnel port.
  const dns = B.bytes(B.u16(0x1234), B.u16(0x0100), B.u16(1), B.u16(0), B.u16(0), B.u16(0), [7], new TextEncoder().encode('example'), [3], new TextEncoder().encode('com'), [0], B.u16(1), B.u16(1));
  for (const port of [4789, 4790, 6081, 2152, 3544, 4754, 6635]) {
    it(`source port ${port} → 53`, () => {
      const frame = B.ethernet(ETH.IPV4, B.ipv4({ src: '100.64.0.9', dst: '9.9.9.9', proto: PROTO.UDP }, B.udp({ sport: port, dport: 53 }, dns)));
      const p = expectFlow(frame);
      expectTuple(p, '100.64.0.9', '9.9.9.9', PROTO.UDP, port, 53);
      expect([p.tunnelDepth, p.payloadLength]).toEqual([0, dns.length]);
    });
  }
});

describe('deep encapsulation without a tunnel level never throws', () => {
  // Frames of up to 256 KiB are legal records. Chains that do not count as tunnels must still be bounded:
  // decodePacket promises never to throw.
  const MAX = 262144;
  function chain(unit: Uint8Array, head: Uint8Array): Uint8Array {
    const n = Math.floor((MAX - head.length) / unit.length);
    const out = new Uint8Array(head.length + n * unit.length);
    out.set(head, 0);
    for (let i = 0; i < n; i++) out.set(unit, head.length + i * unit.length);
    return out;
  }
  const cases: [string, Uint8Array, Uint8Array][] = [
    ['Ethernet in Ethernet (EtherType 0x6558)', B.bytes(B.MAC_A, B.MAC_B, B.u16(ETH.TEB)), new Uint8Array(0)],
    ['LLC/SNAP in LLC/SNAP', B.bytes([0xaa, 0xaa, 0x03, 0, 0, 0], B.u16(0x0010)), B.bytes(B.MAC_A, B.MAC_B, B.u16(0x0010))],
    ['FabricPath in FabricPath', B.bytes([0, 0x3f], B.MAC_A, B.MAC_B, B.u16(ETH.FABRICPATH)), B.bytes(B.MAC_A, B.MAC_B, B.u16(ETH.FABRICPATH))],
    ['Ethernet over MPLS over Ethernet', B.bytes(B.u32((16 << 12) | 0x100 | 64), [0xa0, 1, 2, 3, 4, 5], B.MAC_B, B.u16(ETH.MPLS)), B.bytes(B.MAC_A, B.MAC_B, B.u16(ETH.MPLS))],
    ['VLAN tags between Ethernet-in-Ethernet', B.bytes(B.u16(1), B.u16(ETH.VLAN), B.u16(2), B.u16(ETH.TEB), B.MAC_A, B.MAC_B, B.u16(ETH.VLAN)), B.bytes(B.MAC_A, B.MAC_B, B.u16(ETH.VLAN))],
  ];
  for (const [name, unit, head] of cases) {
    it(name, () => {
      const frame = chain(unit, head);
      expect(frame.length).toBeLessThanOrEqual(MAX);
      let r: number | undefined;
      expect(() => {
        r = decode(frame).result;
      }).not.toThrow();
      expect(r).toBe(DecodeResult.error);
    });
  }
});
