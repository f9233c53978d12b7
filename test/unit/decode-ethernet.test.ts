import { describe, expect, it } from 'vitest';
import * as B from '../support/packet-builder.js';
import { LEAD, decode, expectError, expectFlow, expectNoFlow, expectTuple, resultName } from './decode-helpers.js';

const { ETH, PROTO } = B;

const v4tcp = (): Uint8Array => B.ipv4({ src: '10.1.1.1', dst: '10.2.2.2', proto: PROTO.TCP }, B.tcp({ sport: 1234, dport: 22 }, B.pattern(10)));
const v6udp = (): Uint8Array => B.ipv6({ src: 'fd00::1', dst: 'fd00::2', next: PROTO.UDP }, B.udp({ sport: 9999, dport: 123 }, B.pattern(48)));

describe('802.1Q / 802.1ad tags', () => {
  it('single 802.1Q tag: VLAN id without PCP/DEI bits', () => {
    const frame = B.ethernet(ETH.IPV4, v4tcp(), { vlans: [{ vid: 100, pcp: 5, dei: true }] });
    const p = expectFlow(frame);
    expect([p.vlanCount, p.vlan0, p.vlan1]).toEqual([1, 100, 0]);
    expect(p.ipOffset).toBe(LEAD + 18);
    expectTuple(p, '10.1.1.1', '10.2.2.2', PROTO.TCP, 1234, 22);
  });

  it('QinQ 802.1ad service tag + customer tag: outer in vlan0, inner in vlan1', () => {
    const p = expectFlow(B.ethernet(ETH.IPV6, v6udp(), { vlans: B.qinq(3000, 4094) }));
    expect([p.vlanCount, p.vlan0, p.vlan1]).toEqual([2, 3000, 4094]);
    expect(p.ipOffset).toBe(LEAD + 22);
    expectTuple(p, 'fd00::1', 'fd00::2', PROTO.UDP, 9999, 123);
  });

  it('legacy QinQ TPIDs 0x9100 and 0x9200', () => {
    for (const tpid of [0x9100, 0x9200]) {
      const p = expectFlow(B.ethernet(ETH.IPV4, v4tcp(), { vlans: [{ vid: 7, tpid }, { vid: 8 }] }));
      expect([p.vlanCount, p.vlan0, p.vlan1]).toEqual([2, 7, 8]);
    }
  });

  it('three tags: counted, the outer two recorded', () => {
    const p = expectFlow(B.ethernet(ETH.IPV4, v4tcp(), { vlans: [1, 2, 3] }));
    expect([p.vlanCount, p.vlan0, p.vlan1]).toEqual([3, 1, 2]);
    expect(p.ipOffset).toBe(LEAD + 26);
  });

  it('eight tags are accepted, nine are vlan_too_many_tags', () => {
    const eight = B.ethernet(ETH.IPV4, v4tcp(), { vlans: [1, 2, 3, 4, 5, 6, 7, 8] });
    expect(expectFlow(eight).vlanCount).toBe(8);
    expectError(B.ethernet(ETH.IPV4, v4tcp(), { vlans: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), 'vlan_too_many_tags');
  });

  it('a cut tag is vlan_truncated', () => {
    const frame = B.ethernet(ETH.IPV4, v4tcp(), { vlans: [100] });
    for (let cap = 14; cap < 18; cap++) expectError(frame, 'vlan_truncated', { captured: cap });
  });

  it('a VLAN-tagged ARP is noFlow with its tag recorded', () => {
    const p = expectNoFlow(B.ethernet(ETH.ARP, B.zeros(28), { vlans: [12] }), 'non_ip');
    expect([p.vlanCount, p.vlan0]).toEqual([1, 12]);
  });
});

describe('MPLS', () => {
  it('one label, IPv4 payload', () => {
    const p = expectFlow(B.ethernet(ETH.MPLS, B.mpls([100], v4tcp())));
    expect(p.ipOffset).toBe(LEAD + 18);
    expectTuple(p, '10.1.1.1', '10.2.2.2', PROTO.TCP, 1234, 22);
  });

  it('three labels, IPv6 payload, on the multicast EtherType too', () => {
    for (const type of [ETH.MPLS, 0x8848]) {
      const p = expectFlow(B.ethernet(type, B.mpls([16, 17, 1048575], v6udp())));
      expect(p.ipOffset).toBe(LEAD + 26);
      expectTuple(p, 'fd00::1', 'fd00::2', PROTO.UDP, 9999, 123);
    }
  });

  it('pseudowire with control word, then Ethernet (with its own tag)', () => {
    const inner = B.ethernet(ETH.IPV4, v4tcp(), { vlans: [55] });
    const p = expectFlow(B.ethernet(ETH.MPLS, B.mpls([200, 300], inner, { controlWord: true })));
    expect(p.ipOffset).toBe(LEAD + 14 + 8 + 4 + 18);
    expect(p.vlan0).toBe(55);
    expectTuple(p, '10.1.1.1', '10.2.2.2', PROTO.TCP, 1234, 22);
  });

  it('pseudowire without control word: Ethernet guessed from a first nibble other than 4/6/0', () => {
    const inner = B.ethernet(ETH.IPV4, v4tcp(), { dst: [0xa0, 1, 2, 3, 4, 5] });
    const p = expectFlow(B.ethernet(ETH.MPLS, B.mpls([200], inner)));
    expect(p.ipOffset).toBe(LEAD + 14 + 4 + 14);
  });

  it('sixteen labels are accepted, seventeen are mpls_too_many_labels', () => {
    const labels16 = Array.from({ length: 16 }, (_, i) => 100 + i);
    expectFlow(B.ethernet(ETH.MPLS, B.mpls(labels16, v4tcp())));
    const labels17 = Array.from({ length: 17 }, (_, i) => 100 + i);
    expectError(B.ethernet(ETH.MPLS, B.mpls(labels17, v4tcp())), 'mpls_too_many_labels');
  });

  it('truncated label stack, missing payload, cut control word: mpls_truncated', () => {
    expectError(B.ethernet(ETH.MPLS, B.mpls([1, 2], v4tcp())), 'mpls_truncated', { captured: 14 + 6 });
    expectError(B.ethernet(ETH.MPLS, B.mpls([1], [])), 'mpls_truncated');
    expectError(B.ethernet(ETH.MPLS, B.bytes(B.mpls([1], []), [0, 0])), 'mpls_truncated');
  });
});

describe('PPPoE', () => {
  it('session with IPv4 and IPv6', () => {
    const p4 = expectFlow(B.ethernet(ETH.PPPOE_SESSION, B.pppoe(0x21, v4tcp())));
    expect(p4.ipOffset).toBe(LEAD + 22);
    expectTuple(p4, '10.1.1.1', '10.2.2.2', PROTO.TCP, 1234, 22);
    const p6 = expectFlow(B.ethernet(ETH.PPPOE_SESSION, B.pppoe(0x57, v6udp()), { vlans: [9] }));
    expect([p6.ipOffset, p6.vlan0]).toEqual([LEAD + 26, 9]);
  });

  it('cut header is pppoe_truncated', () => {
    const frame = B.ethernet(ETH.PPPOE_SESSION, B.pppoe(0x21, v4tcp()));
    for (let cap = 14; cap < 22; cap++) expectError(frame, 'pppoe_truncated', { captured: cap });
  });
});

describe('LLC/SNAP, VN-Tag, FabricPath, NSH', () => {
  it('802.3 + SNAP carries IPv4', () => {
    const p = expectFlow(B.ethernetSnap(ETH.IPV4, v4tcp()));
    expect(p.ipOffset).toBe(LEAD + 22);
    expectTuple(p, '10.1.1.1', '10.2.2.2', PROTO.TCP, 1234, 22);
  });

  it('plain LLC (spanning tree) is noFlow non_ip', () => {
    const stp = B.bytes(B.MAC_A, B.MAC_B, B.u16(38), [0x42, 0x42, 0x03], B.zeros(35));
    expectNoFlow(stp, 'non_ip');
  });

  it('cut LLC or SNAP header is llc_truncated', () => {
    const frame = B.ethernetSnap(ETH.IPV4, v4tcp());
    for (let cap = 14; cap < 22; cap++) expectError(frame, 'llc_truncated', { captured: cap });
  });

  it('VN-Tag then IPv4', () => {
    const vntag = B.bytes([0x80, 0x01, 0x00, 0x02], B.u16(ETH.IPV4), v4tcp());
    const p = expectFlow(B.ethernet(ETH.VNTAG, vntag));
    expect(p.ipOffset).toBe(LEAD + 20);
    expectError(B.ethernet(ETH.VNTAG, vntag), 'vntag_truncated', { captured: 19 });
  });

  it('VN-Tag followed by an 802.1Q tag', () => {
    const vntag = B.bytes([0x80, 0x01, 0x00, 0x02], B.u16(ETH.VLAN), B.u16(321), B.u16(ETH.IPV4), v4tcp());
    const p = expectFlow(B.ethernet(ETH.VNTAG, vntag));
    expect([p.vlanCount, p.vlan0, p.ipOffset]).toEqual([1, 321, LEAD + 24]);
  });

  it('FabricPath encapsulating a classic Ethernet frame', () => {
    const inner = B.ethernet(ETH.IPV4, v4tcp(), { vlans: [44] });
    const frame = B.ethernet(ETH.FABRICPATH, B.bytes([0x00, 0x3f], inner));
    const p = expectFlow(frame);
    expect([p.ipOffset, p.vlan0]).toEqual([LEAD + 14 + 2 + 18, 44]);
    expectError(frame, 'fabricpath_truncated', { captured: 14 + 2 + 13 });
  });

  it('NSH (EtherType 0x894f) with IPv4 inside; cut NSH is nsh_truncated', () => {
    const frame = B.ethernet(ETH.NSH, B.nsh(1, v4tcp(), 3));
    const p = expectFlow(frame);
    expect(p.ipOffset).toBe(LEAD + 14 + 12);
    expect(p.tunnelDepth).toBe(1);
    expectError(frame, 'nsh_truncated', { captured: 14 + 7 });
    expectError(frame, 'nsh_truncated', { captured: 14 + 11 });
    expectError(B.ethernet(ETH.NSH, B.nsh(1, v4tcp(), 1)), 'nsh_truncated');
    expectError(B.ethernet(ETH.NSH, B.nsh(9, v4tcp())), 'nsh_truncated');
  });
});

describe('Ethernet itself', () => {
  it('fewer than 14 bytes is ethernet_truncated', () => {
    const frame = B.ethernet(ETH.IPV4, v4tcp());
    for (let cap = 0; cap < 14; cap++) expectError(frame, 'ethernet_truncated', { captured: cap });
  });

  it('a header with nothing after it: the EtherType decides (IPv4 → ipv4_truncated)', () => {
    expectError(B.ethernet(ETH.IPV4, []), 'ipv4_truncated');
    expectError(B.ethernet(ETH.IPV6, []), 'ipv6_truncated');
    expect(resultName(decode(B.ethernet(0x88cc, [])).result)).toBe('noFlow');
  });
});
