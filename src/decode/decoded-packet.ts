import { DecodeError } from './decode-error.js';

/** What decodePacket found. */
export const DecodeResult = {
  /** The packet carries an L4 flow (TCP, UDP, ICMP echo or another IP protocol) for the session table. */
  flow: 1,
  /** Decoded, but there is no flow to track (ARP, non-first fragment, ICMP error, ...). */
  noFlow: 0,
  /** Malformed: `error` names the reason. */
  error: -1,
} as const;

export const IpProto = { ICMP: 1, IPIP: 4, TCP: 6, UDP: 17, IPV6: 41, GRE: 47, ICMPV6: 58 } as const;

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

/** Why a decoded packet has no flow (counted, not errors). */
export const NoFlowReason = {
  none: 0,
  non_ip: 1,
  ipv4_fragment: 2,
  ipv6_fragment: 3,
  icmp_error: 4,
} as const;
export const noFlowReasonNames = Object.keys(NoFlowReason) as (keyof typeof NoFlowReason)[];

/**
 * One decoded packet. A single instance is reused for every packet: the decoder writes numbers into its
 * fields and never allocates. Addresses are four 32-bit words each; IPv4 is stored IPv4-mapped
 * (0, 0, 0xffff, addr) so that the session table hashes both families the same way.
 *
 * After tunnel decapsulation the IP/L4 fields describe the innermost packet, and `vlan*` the innermost
 * frame's tags (the flow that matters is the tunnelled one).
 */
export class DecodedPacket {
  data: Uint8Array = new Uint8Array(0);
  /**
   * `data` as a DataView, made again only when the buffer changes (replay and live capture reuse theirs): a
   * 16- or 32-bit field is then one load, where assembling it from bytes took two or four.
   */
  view: DataView = new DataView(this.data.buffer);
  /** End of captured bytes in `data` (exclusive). */
  capturedEnd = 0;
  /** Captured bytes minus wire bytes: how much the snap length cut off (0 if nothing). */
  wireExtra = 0;
  linkType = 0;

  /** Offset of the outermost Ethernet header, or -1 when the link layer is not Ethernet. */
  l2Offset = -1;
  vlanCount = 0;
  vlan0 = 0;
  vlan1 = 0;
  tunnelDepth = 0;

  ipVersion = 0;
  ipOffset = 0;
  ipHeaderLength = 0;
  /** Total IP length as stated by the header (IPv6: 40 + payload length). */
  ipTotalLength = 0;
  ttl = 0;
  ipId = 0;
  src0 = 0;
  src1 = 0;
  src2 = 0;
  src3 = 0;
  dst0 = 0;
  dst1 = 0;
  dst2 = 0;
  dst3 = 0;
  isFragment = false;

  l4Protocol = 0;
  l4Offset = 0;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  seq = 0;
  ack = 0;
  window = 0;
  tcpHeaderLength = 0;
  /** Window scale option (shift count) on a SYN, or -1 when absent. */
  windowScale = -1;
  mss = 0;
  icmpType = 0;
  icmpCode = 0;
  /** Bytes of L4 payload on the wire (from the IP lengths, not from what was captured). */
  payloadLength = 0;
  payloadOffset = 0;

  /**
   * Capture time in seconds, set by the engine before tracking. A double field of this reused object is
   * updated in place; passed as an argument to a call that is not inlined it would be boxed, per packet.
   */
  ts = 0.5;

  error: number = DecodeError.none;
  /** A non-fatal oddity (DecodeError code): counted, but the packet is still tracked. */
  anomaly: number = DecodeError.none;
  noFlowReason = 0;

  reset(data: Uint8Array, offset: number, capturedLength: number, wireLength: number, linkType: number): void {
    if (data !== this.data) {
      this.data = data;
      this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    }
    // Every decoder checks its reads against capturedEnd. Kept inside the buffer, a caller's captured length past
    // its end reads as a packet cut short by the snap length, rather than a DataView read past the end (a throw).
    if (offset + capturedLength > data.length) capturedLength = Math.max(0, data.length - offset);
    this.capturedEnd = offset + capturedLength;
    this.wireExtra = wireLength > capturedLength ? wireLength - capturedLength : 0;
    this.linkType = linkType;
    this.l2Offset = -1;
    this.vlanCount = 0;
    this.vlan0 = 0;
    this.vlan1 = 0;
    this.tunnelDepth = 0;
    this.ipVersion = 0;
    this.isFragment = false;
    this.l4Protocol = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.windowScale = -1;
    this.mss = 0;
    this.payloadLength = 0;
    this.error = DecodeError.none;
    this.anomaly = DecodeError.none;
    this.noFlowReason = 0;
  }

  /** Marks the packet malformed; returns DecodeResult.error so decoders can `return pkt.fail(...)`. */
  fail(reason: number): number {
    this.error = reason;
    return DecodeResult.error;
  }

  noFlow(reason: number): number {
    this.noFlowReason = reason;
    return DecodeResult.noFlow;
  }
}
