/**
 * Encodes one scripted packet of one flow as an Ethernet frame straight into the pcap writer's buffer:
 * Ethernet (optionally 802.1Q), IPv4 or IPv6, then TCP, UDP, ICMP or ICMPv6, with every checksum valid.
 *
 * This is the generator's hot path (millions of calls), so it reads flow state from the typed arrays of the flow
 * table, writes bytes by hand and allocates nothing per packet.
 */
import { AddressPlan, V6_PREFIX_WORD0, type Address } from './address-plan.js';
import { finishChecksum, finishUdpChecksum, sumBytes, sumU32 } from './checksum.js';
import { FlowKind, FlowTable } from './flow-table.js';
import { PayloadKind, RETRANSMISSION, TCP_ACK, TCP_FIN, TCP_SYN } from './flow-script.js';
import {
  DNS_TYPE_AAAA,
  HTTP_PATHS,
  PATTERN_PERIOD,
  PayloadPattern,
  writeDns,
  writeHttpGet,
  writeRtp,
  writeTlsClientHello,
} from './payload.js';
import { PcapWriter } from './pcap-writer.js';

/** Capture start: 2026-01-01T00:00:00Z. A fixed epoch keeps the file identical from run to run. */
const EPOCH_SECONDS = 1767225600;
/** The router's MAC: the sensor sits on the client side of it, so every server is behind this one address. */
const GATEWAY_MAC = [0x02, 0x42, 0xc6, 0x12, 0xff, 0xfe];
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const MIN_FRAME = 60; // Ethernet minimum without FCS: shorter frames are padded on the wire, and a mirror sees that

/** Counters over everything written, to check the mix (and to report it). */
export class EmitStats {
  packets = 0;
  bytes = 0;
  tcpPackets = 0;
  udpPackets = 0;
  icmpPackets = 0;
  ipv6Packets = 0;
  vlanPackets = 0;
  /** Frame size classes of IMIX (64 / 570 / 1500 with FCS): < 128, 128..1023, >= 1024 bytes without FCS. */
  small = 0;
  medium = 0;
  large = 0;
}

export class PacketEmitter {
  readonly stats = new EmitStats();
  private readonly answer = { hi: 0, mid: 0, lo: 0 } as Address;
  private readonly answerWords = [0, 0, 0, 0];

  constructor(
    private readonly writer: PcapWriter,
    private readonly table: FlowTable,
    private readonly plan: AddressPlan,
    private readonly pattern: PayloadPattern,
  ) {}

  emit(slot: number, desc: number, timeUs: number): void {
    const t = this.table;
    const kind = t.kind[slot]! as FlowKind;
    const fromClient = (desc & 1) === 0;
    const flags = (desc >>> 1) & 0xff;
    const len = (desc >>> 9) & 0xfff;
    const payloadKind = ((desc >>> 21) & 0xf) as PayloadKind;
    const v6 = t.v6[slot] === 1;
    const vlan = t.vlan[slot]!;

    const l2 = vlan !== 0 ? 18 : 14;
    const l3 = v6 ? 40 : 20;
    const l4Header = kind === FlowKind.Tcp ? ((flags & TCP_SYN) !== 0 ? 32 : 20) : 8;
    const l4Len = l4Header + len;
    const wireLen = l2 + l3 + l4Len;
    const frameLen = wireLen < MIN_FRAME ? MIN_FRAME : wireLen;

    const seconds = Math.floor(timeUs / 1e6);
    const at = this.writer.beginRecord(EPOCH_SECONDS + seconds, Math.floor(timeUs - seconds * 1e6), frameLen);
    const b = this.writer.buf;

    // --- Ethernet (+ 802.1Q)
    const clientMacTail = t.cLo[slot]!;
    let p = at;
    if (fromClient) {
      p = putGatewayMac(b, p);
      p = putClientMac(b, p, clientMacTail);
    } else {
      p = putClientMac(b, p, clientMacTail);
      p = putGatewayMac(b, p);
    }
    if (vlan !== 0) {
      p = put16(b, p, ETHERTYPE_VLAN);
      p = put16(b, p, vlan);
    }
    p = put16(b, p, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);

    // --- IP
    const proto =
      kind === FlowKind.Tcp ? PROTO_TCP : kind === FlowKind.Udp ? PROTO_UDP : v6 ? PROTO_ICMPV6 : PROTO_ICMP;
    let pseudo: number; // transport pseudo-header sum (unused for ICMPv4)
    if (v6) {
      const sHi = fromClient ? t.cHi[slot]! : t.sHi[slot]!;
      const sMid = fromClient ? t.cMid[slot]! : t.sMid[slot]!;
      const sLo = fromClient ? t.cLo[slot]! : t.sLo[slot]!;
      const dHi = fromClient ? t.sHi[slot]! : t.cHi[slot]!;
      const dMid = fromClient ? t.sMid[slot]! : t.cMid[slot]!;
      const dLo = fromClient ? t.sLo[slot]! : t.cLo[slot]!;
      p = put32(b, p, (0x60000000 | t.flowLabel[slot]!) >>> 0);
      p = put16(b, p, l4Len);
      b[p++] = proto;
      b[p++] = fromClient ? t.cTtl[slot]! : t.sTtl[slot]!;
      p = put32(b, p, V6_PREFIX_WORD0);
      p = put32(b, p, sHi);
      p = put32(b, p, sMid);
      p = put32(b, p, sLo);
      p = put32(b, p, V6_PREFIX_WORD0);
      p = put32(b, p, dHi);
      p = put32(b, p, dMid);
      p = put32(b, p, dLo);
      pseudo =
        2 * sumU32(V6_PREFIX_WORD0) +
        sumU32(sHi) + sumU32(sMid) + sumU32(sLo) + sumU32(dHi) + sumU32(dMid) + sumU32(dLo) + l4Len + proto;
      this.stats.ipv6Packets++;
    } else {
      const src = fromClient ? t.cLo[slot]! : t.sLo[slot]!;
      const dst = fromClient ? t.sLo[slot]! : t.cLo[slot]!;
      let ipId: number;
      if (fromClient) {
        ipId = t.cIpId[slot]!;
        t.cIpId[slot] = ipId + 1;
      } else {
        ipId = t.sIpId[slot]!;
        t.sIpId[slot] = ipId + 1;
      }
      const ipStart = p;
      b[p++] = 0x45;
      b[p++] = 0;
      p = put16(b, p, l3 + l4Len);
      p = put16(b, p, ipId);
      p = put16(b, p, 0x4000); // DF, as every modern stack sets
      b[p++] = fromClient ? t.cTtl[slot]! : t.sTtl[slot]!;
      b[p++] = proto;
      p = put16(b, p, 0);
      p = put32(b, p, src);
      p = put32(b, p, dst);
      const csum = finishChecksum(sumBytes(b, ipStart, p));
      b[ipStart + 10] = csum >>> 8;
      b[ipStart + 11] = csum & 255;
      pseudo = sumU32(src) + sumU32(dst) + proto + l4Len;
    }

    // --- transport
    const l4 = p;
    const payloadAt = l4 + l4Header;
    let payloadSum: number;
    let checksumAt: number;
    if (kind === FlowKind.Tcp) {
      this.stats.tcpPackets++;
      const advance = len + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
      let seq = fromClient ? t.cNxt[slot]! : t.sNxt[slot]!;
      if ((desc & RETRANSMISSION) !== 0) {
        seq = (seq - advance) >>> 0; // same bytes again: the side's next sequence number does not move
      } else if (fromClient) {
        t.cNxt[slot] = (seq + advance) >>> 0;
      } else {
        t.sNxt[slot] = (seq + advance) >>> 0;
      }
      const ack = (flags & TCP_ACK) !== 0 ? (fromClient ? t.sNxt[slot]! : t.cNxt[slot]!) : 0;
      p = put16(b, p, fromClient ? t.cPort[slot]! : t.sPort[slot]!);
      p = put16(b, p, fromClient ? t.sPort[slot]! : t.cPort[slot]!);
      p = put32(b, p, seq);
      p = put32(b, p, ack);
      b[p++] = (l4Header / 4) << 4;
      b[p++] = flags;
      // Windows: 64240 in SYNs (unscaled), otherwise 501 << 7 = 64128 bytes with the negotiated scale.
      p = put16(b, p, (flags & TCP_SYN) !== 0 ? 64240 : 501);
      checksumAt = p;
      p = put16(b, p, 0);
      p = put16(b, p, 0); // urgent pointer
      if ((flags & TCP_SYN) !== 0) {
        // MSS, NOP + window scale 7, NOP NOP + SACK permitted
        p = put32(b, p, 0x02040000 | (v6 ? 1440 : 1460));
        p = put32(b, p, 0x01030307);
        p = put32(b, p, 0x01010402);
      }
      payloadSum = this.writePayload(slot, payloadKind, payloadAt, len, seq & (PATTERN_PERIOD - 1), fromClient);
      const c = finishChecksum(pseudo + sumBytes(b, l4, payloadAt) + payloadSum);
      b[checksumAt] = c >>> 8;
      b[checksumAt + 1] = c & 255;
    } else if (kind === FlowKind.Udp) {
      this.stats.udpPackets++;
      // UDP flows use the "next" fields as per-direction packet counters (RTP sequence, pattern position).
      const count = fromClient ? t.cNxt[slot]! : t.sNxt[slot]!;
      if (fromClient) t.cNxt[slot] = count + 1;
      else t.sNxt[slot] = count + 1;
      p = put16(b, p, fromClient ? t.cPort[slot]! : t.sPort[slot]!);
      p = put16(b, p, fromClient ? t.sPort[slot]! : t.cPort[slot]!);
      p = put16(b, p, l4Len);
      checksumAt = p;
      p = put16(b, p, 0);
      const patternOffset = Math.imul(count + 1, 0x9e37) & (PATTERN_PERIOD - 1);
      payloadSum = this.writePayload(slot, payloadKind, payloadAt, len, patternOffset, fromClient, count);
      const c = finishUdpChecksum(pseudo + sumBytes(b, l4, payloadAt) + payloadSum);
      b[checksumAt] = c >>> 8;
      b[checksumAt + 1] = c & 255;
    } else {
      this.stats.icmpPackets++;
      // Echo request from the client, reply from the server, same identifier and sequence number.
      let seq = t.cNxt[slot]!;
      if (fromClient) t.cNxt[slot] = seq = (seq + 1) & 0xffff;
      b[p++] = v6 ? (fromClient ? 128 : 129) : fromClient ? 8 : 0;
      b[p++] = 0;
      checksumAt = p;
      p = put16(b, p, 0);
      p = put16(b, p, t.aux[slot]! & 0xffff);
      p = put16(b, p, seq);
      payloadSum = this.writePayload(slot, payloadKind, payloadAt, len, (seq * 64) & (PATTERN_PERIOD - 1), fromClient);
      const c = finishChecksum((v6 ? pseudo : 0) + sumBytes(b, l4, payloadAt) + payloadSum);
      b[checksumAt] = c >>> 8;
      b[checksumAt + 1] = c & 255;
    }

    if (wireLen < MIN_FRAME) b.fill(0, at + wireLen, at + MIN_FRAME);

    const s = this.stats;
    s.packets++;
    s.bytes += frameLen;
    if (vlan !== 0) s.vlanPackets++;
    if (frameLen < 128) s.small++;
    else if (frameLen < 1024) s.medium++;
    else s.large++;
  }

  /** Writes the payload and returns its checksum contribution (it starts at an even offset of the segment). */
  private writePayload(
    slot: number,
    kind: PayloadKind,
    at: number,
    len: number,
    patternOffset: number,
    fromClient: boolean,
    count = 0,
  ): number {
    if (len === 0) return 0;
    const b = this.writer.buf;
    const t = this.table;
    let written: number;
    switch (kind) {
      case PayloadKind.Pattern:
      case PayloadKind.IcmpEcho:
        this.pattern.copy(b, at, patternOffset, len);
        return this.pattern.sum(patternOffset, len);
      case PayloadKind.TlsClientHello:
        written = writeTlsClientHello(b, at, this.plan.names[t.nameIdx[slot]!]!, this.pattern, t.cNxt[slot]!);
        break;
      case PayloadKind.HttpGet:
        written = writeHttpGet(b, at, this.plan.names[t.nameIdx[slot]!]!, HTTP_PATHS[t.aux[slot]! % HTTP_PATHS.length]!);
        break;
      case PayloadKind.DnsQuery:
      case PayloadKind.DnsResponse: {
        const qtype = t.aux[slot]! >>> 16;
        const nameIdx = t.nameIdx[slot]!;
        const answers = kind === PayloadKind.DnsQuery ? -1 : t.aux2[slot]! & 0xff;
        this.plan.server(nameIdx, qtype === DNS_TYPE_AAAA, this.answer);
        const w = this.answerWords;
        if (qtype === DNS_TYPE_AAAA) {
          w[0] = V6_PREFIX_WORD0;
          w[1] = this.answer.hi;
          w[2] = this.answer.mid;
          w[3] = this.answer.lo;
        } else {
          w[0] = this.answer.lo;
        }
        const wire = this.plan.wireNames[nameIdx]!;
        const cname = this.plan.cnameWireNames[nameIdx]!;
        written = writeDns(b, at, t.aux[slot]! & 0xffff, wire, qtype, answers, t.aux2[slot]! >>> 8, cname, w);
        break;
      }
      case PayloadKind.Rtp:
        written = writeRtp(b, at, (t.aux2[slot]! + count) & 0xffff, fromClient ? t.aux[slot]! : ~t.aux[slot]! >>> 0, this.pattern);
        break;
      default:
        throw new Error(`payload kind ${kind} with ${len} bytes`);
    }
    if (written !== len) throw new Error(`payload kind ${kind}: planned ${len} bytes, wrote ${written}`);
    return sumBytes(b, at, at + len);
  }
}

function put16(b: Uint8Array, p: number, v: number): number {
  b[p] = (v >>> 8) & 255;
  b[p + 1] = v & 255;
  return p + 2;
}

function put32(b: Uint8Array, p: number, v: number): number {
  b[p] = v >>> 24;
  b[p + 1] = (v >>> 16) & 255;
  b[p + 2] = (v >>> 8) & 255;
  b[p + 3] = v & 255;
  return p + 4;
}

function putGatewayMac(b: Uint8Array, p: number): number {
  for (let i = 0; i < 6; i++) b[p + i] = GATEWAY_MAC[i]!;
  return p + 6;
}

/** Client MACs are locally administered (02:00:...) and derived from the client address: stable per host. */
function putClientMac(b: Uint8Array, p: number, tail: number): number {
  b[p] = 0x02;
  b[p + 1] = 0x00;
  return put32(b, p + 2, tail);
}
