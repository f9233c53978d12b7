import { describe, expect, it } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import * as B from '../support/packet-builder.js';
import { LEAD, decode, expectError, expectFlow, expectNoFlow, expectTuple, resultName } from './decode-helpers.js';

const { ETH, PROTO, TCP_FLAGS: F } = B;

const tcpV4 = (): Uint8Array =>
  B.ipv4({ src: '192.0.2.7', dst: '198.51.100.9', proto: PROTO.TCP, ttl: 41 }, B.tcp({ sport: 40000, dport: 80, seq: 11, ack: 22, flags: F.ACK | F.PSH }, B.pattern(30)));
const udpV6 = (): Uint8Array =>
  B.ipv6({ src: '2001:db8:1::a', dst: '2001:db8:2::b', next: PROTO.UDP, hopLimit: 33 }, B.udp({ sport: 5353, dport: 53 }, B.pattern(12)));

describe('Ethernet, IPv4, TCP: every field', () => {
  const options = B.tcpOptions({ mss: 1460, sackPermitted: true, timestamps: [0x01020304, 0], wscale: 7 });
  const frame = B.ethernet(
    ETH.IPV4,
    B.ipv4(
      { src: '192.168.1.10', dst: '93.184.216.34', proto: PROTO.TCP, ttl: 57, id: 0xbeef, df: true },
      B.tcp({ sport: 51000, dport: 443, seq: 0xfedcba98, ack: 0x87654321, flags: F.SYN | F.ACK | F.ECE, window: 29200, options }, B.pattern(100)),
    ),
  );

  it('decodes link, network and transport fields', () => {
    expect(options.length).toBe(20);
    const p = expectFlow(frame);
    expect(p.l2Offset).toBe(LEAD);
    expect(p.vlanCount).toBe(0);
    expect(p.tunnelDepth).toBe(0);
    expect(p.linkType).toBe(LinkType.ETHERNET);
    expect(p.capturedEnd).toBe(LEAD + frame.length);
    expect(p.wireExtra).toBe(0);
    expectTuple(p, '192.168.1.10', '93.184.216.34', PROTO.TCP, 51000, 443);
    expect(p.ipOffset).toBe(LEAD + 14);
    expect(p.ipHeaderLength).toBe(20);
    expect(p.ipTotalLength).toBe(20 + 40 + 100);
    expect(p.ttl).toBe(57);
    expect(p.ipId).toBe(0xbeef);
    expect(p.isFragment).toBe(false);
    expect(p.l4Offset).toBe(LEAD + 34);
    expect(p.tcpFlags).toBe(F.SYN | F.ACK | F.ECE);
    expect(p.seq).toBe(0xfedcba98);
    expect(p.ack).toBe(0x87654321);
    expect(p.window).toBe(29200);
    expect(p.tcpHeaderLength).toBe(40);
    expect(p.mss).toBe(1460);
    expect(p.windowScale).toBe(7);
    expect(p.payloadOffset).toBe(LEAD + 74);
    expect(p.payloadLength).toBe(100);
    expect(p.noFlowReason).toBe(0);
  });

  it('resets per-packet fields between packets (the DecodedPacket is reused)', () => {
    expectFlow(frame);
    const plain = B.ethIpv4Tcp({ tcp: { sport: 1, dport: 2, flags: F.ACK } });
    const p = expectFlow(plain);
    expect(p.mss).toBe(0);
    expect(p.windowScale).toBe(-1);
    expect(p.vlanCount).toBe(0);
    const tagged = B.ethIpv4Tcp({ tcp: { sport: 1, dport: 2 }, eth: { vlans: [5, 6] } });
    expect(expectFlow(tagged).vlanCount).toBe(2);
    const p2 = expectFlow(plain);
    expect([p2.vlanCount, p2.vlan0, p2.vlan1]).toEqual([0, 0, 0]);
  });
});

describe('link types', () => {
  interface Case {
    name: string;
    linkType: number;
    frame: Uint8Array;
    ipOffset: number;
    v6?: boolean;
  }
  const v4 = tcpV4();
  const v6 = udpV6();
  const cases: Case[] = [
    { name: 'Ethernet IPv4', linkType: LinkType.ETHERNET, frame: B.ethernet(ETH.IPV4, v4), ipOffset: 14 },
    { name: 'Ethernet IPv6', linkType: LinkType.ETHERNET, frame: B.ethernet(ETH.IPV6, v6), ipOffset: 14, v6: true },
    { name: 'RAW (101) IPv4', linkType: LinkType.RAW, frame: v4, ipOffset: 0 },
    { name: 'RAW (101) IPv6', linkType: LinkType.RAW, frame: v6, ipOffset: 0, v6: true },
    { name: 'RAW (12) IPv4', linkType: LinkType.RAW_ALT, frame: v4, ipOffset: 0 },
    { name: 'RAW (14) IPv6', linkType: LinkType.RAW_ALT_OPENBSD, frame: v6, ipOffset: 0, v6: true },
    { name: 'IPV4 (228)', linkType: LinkType.IPV4, frame: v4, ipOffset: 0 },
    { name: 'IPV6 (229)', linkType: LinkType.IPV6, frame: v6, ipOffset: 0, v6: true },
    { name: 'SLL IPv4', linkType: LinkType.LINUX_SLL, frame: B.sll(ETH.IPV4, v4), ipOffset: 16 },
    { name: 'SLL IPv6 (outgoing)', linkType: LinkType.LINUX_SLL, frame: B.sll(ETH.IPV6, v6, 4), ipOffset: 16, v6: true },
    { name: 'SLL VLAN-tagged', linkType: LinkType.LINUX_SLL, frame: B.sll(ETH.VLAN, B.bytes(B.u16(77), B.u16(ETH.IPV4), v4)), ipOffset: 20 },
    { name: 'SLL2 IPv4', linkType: LinkType.LINUX_SLL2, frame: B.sll2(ETH.IPV4, v4), ipOffset: 20 },
    { name: 'SLL2 IPv6', linkType: LinkType.LINUX_SLL2, frame: B.sll2(ETH.IPV6, v6), ipOffset: 20, v6: true },
    { name: 'NULL AF_INET little-endian', linkType: LinkType.NULL, frame: B.nullHeader(2, v4), ipOffset: 4 },
    { name: 'NULL AF_INET big-endian', linkType: LinkType.NULL, frame: B.nullHeader(2, v4, true), ipOffset: 4 },
    { name: 'NULL AF_INET6 (BSD 24)', linkType: LinkType.NULL, frame: B.nullHeader(24, v6), ipOffset: 4, v6: true },
    { name: 'NULL AF_INET6 (FreeBSD 28)', linkType: LinkType.NULL, frame: B.nullHeader(28, v6), ipOffset: 4, v6: true },
    { name: 'NULL AF_INET6 (macOS 30)', linkType: LinkType.NULL, frame: B.nullHeader(30, v6), ipOffset: 4, v6: true },
    { name: 'NULL AF_INET6 (Linux 10)', linkType: LinkType.NULL, frame: B.nullHeader(10, v6), ipOffset: 4, v6: true },
    { name: 'LOOP AF_INET', linkType: LinkType.LOOP, frame: B.nullHeader(2, v4, true), ipOffset: 4 },
    { name: 'LOOP AF_INET6', linkType: LinkType.LOOP, frame: B.nullHeader(30, v6, true), ipOffset: 4, v6: true },
    { name: 'PPP with FF 03', linkType: LinkType.PPP, frame: B.ppp(0x21, v4), ipOffset: 4 },
    { name: 'PPP without FF 03', linkType: LinkType.PPP, frame: B.ppp(0x21, v4, { hdlc: false }), ipOffset: 2 },
    { name: 'PPP compressed protocol', linkType: LinkType.PPP, frame: B.ppp(0x21, v4, { hdlc: false, compressed: true }), ipOffset: 1 },
    { name: 'PPP IPv6', linkType: LinkType.PPP, frame: B.ppp(0x57, v6), ipOffset: 4, v6: true },
    { name: 'PPP_HDLC IPv4', linkType: LinkType.PPP_HDLC, frame: B.ppp(0x21, v4), ipOffset: 4 },
    { name: 'PPP MPLS', linkType: LinkType.PPP, frame: B.ppp(0x281, B.mpls([16], v4)), ipOffset: 8 },
    { name: 'NFLOG IPv4', linkType: LinkType.NFLOG, frame: B.nflogPacket(v4), ipOffset: 4 + 8 + 12 + 4 },
    { name: 'NFLOG IPv6', linkType: LinkType.NFLOG, frame: B.nflogPacket(v6, 10), ipOffset: 4 + 8 + 12 + 4, v6: true },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const p = expectFlow(c.frame, { linkType: c.linkType });
      expect(p.ipOffset).toBe(LEAD + c.ipOffset);
      expect(p.l2Offset).toBe(c.linkType === LinkType.ETHERNET ? LEAD : -1);
      if (c.v6) {
        expectTuple(p, '2001:db8:1::a', '2001:db8:2::b', PROTO.UDP, 5353, 53);
        expect(p.ttl).toBe(33);
        expect(p.payloadLength).toBe(12);
      } else {
        expectTuple(p, '192.0.2.7', '198.51.100.9', PROTO.TCP, 40000, 80);
        expect([p.ttl, p.seq, p.ack, p.tcpFlags, p.payloadLength]).toEqual([41, 11, 22, F.ACK | F.PSH, 30]);
      }
    });
  }

  it('SLL VLAN tag is recorded', () => {
    const p = expectFlow(B.sll(ETH.VLAN, B.bytes(B.u16(77), B.u16(ETH.IPV4), v4)), { linkType: LinkType.LINUX_SLL });
    expect([p.vlanCount, p.vlan0]).toEqual([1, 77]);
  });

  it('NFLOG finds the packet TLV after TLVs of any padded length', () => {
    const frame = B.nflog([
      { type: 1, value: [8, 0, 3, 0] },
      { type: 10, value: [0x41] }, // 5-byte TLV padded to 8
      { type: 11, value: B.pattern(7) }, // 11 padded to 12
      { type: 9, value: v4 },
    ]);
    const p = expectFlow(frame, { linkType: LinkType.NFLOG });
    expect(p.ipOffset).toBe(LEAD + 4 + 8 + 8 + 12 + 4);
  });

  it('LINKTYPE_IPV4 does not accept an IPv6 packet, nor LINKTYPE_IPV6 an IPv4 one', () => {
    expectError(v6, 'ipv4_bad_version', { linkType: LinkType.IPV4 });
    expectError(v4, 'ipv6_bad_version', { linkType: LinkType.IPV6 });
  });

  it('non-IP frames are noFlow non_ip', () => {
    const arp = B.ethernet(ETH.ARP, B.zeros(28));
    expectNoFlow(arp, 'non_ip');
    expectNoFlow(B.sll(ETH.ARP, B.zeros(28)), 'non_ip', { linkType: LinkType.LINUX_SLL });
    expectNoFlow(B.sll2(0x88cc, B.zeros(28)), 'non_ip', { linkType: LinkType.LINUX_SLL2 }); // LLDP
    expectNoFlow(B.ppp(0xc021, B.zeros(8)), 'non_ip', { linkType: LinkType.PPP }); // LCP
    expectNoFlow(B.ethernet(ETH.PPPOE_SESSION, B.pppoe(0x8021, B.zeros(8))), 'non_ip'); // IPCP over PPPoE
  });

  it('an unknown link type is link_type_unsupported', () => {
    expectError(tcpV4(), 'link_type_unsupported', { linkType: 147 });
    expectError(tcpV4(), 'link_type_unsupported', { linkType: 105 }); // 802.11
  });

  it('every link type reports a zero-length packet as an error, never a flow', () => {
    for (const lt of [0, 1, 9, 12, 14, 50, 101, 108, 113, 228, 229, 239, 276]) {
      const d = decode(new Uint8Array(0), { linkType: lt });
      expect(resultName(d.result), `link type ${lt}`).toBe('error');
    }
  });
});
