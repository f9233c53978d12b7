/**
 * Time-to-RST measured on the wire: reads a capture taken on the switch side of the client's port (both
 * directions, nanosecond time stamps) with offpath's own reader and decoder, and for every connection attempt
 * (one client SYN, retransmissions folded in) finds the first injected RST sent to the client.
 *
 * Injected frames are recognised by their source MAC (the sensor's `inj` interface, so the sensor must run with
 * its own MAC as source). The reference time is the client's SYN: for a blocked destination it is the first
 * packet the sensor can react to.
 */
import { openCaptureFile } from '../../../src/capture/file/open-capture-file.js';
import { decodePacket } from '../../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult, IpProto, TcpFlag } from '../../../src/decode/decoded-packet.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../../src/net/address.js';
import { percentile } from './lab-protocol.js';

export interface WireTimingOptions {
  /** MAC address(es) the sensor injects from, "aa:bb:cc:dd:ee:ff". */
  injectorMacs: readonly string[];
  /** Server address (IPv4 or IPv6 text) -> label (e.g. "blocked", "allowed"). Other addresses are ignored. */
  serverLabels: ReadonlyMap<string, string>;
}

/** One connection attempt as seen on the client's port. */
export interface WireAttempt {
  label: string;
  client: string;
  sport: number;
  server: string;
  dport: number;
  /** Nanoseconds since the first packet of the capture. */
  synNs: number;
  /** First injected RST towards the client, or null. */
  firstInjectedRstNs: number | null;
  /** TCP payload bytes the server's own frames delivered towards the client before that RST (or in total). */
  serverPayloadBeforeRst: number;
  /**
   * First frame of the server's own carrying payload towards the client, RST or not (null: none). For a connection
   * nobody resets, SYN to this is the deadline a reset must beat to arrive before the first application byte.
   */
  firstServerPayloadNs: number | null;
  injectedRsts: number;
  /** The server's own stack sent a RST (for example after its side of the session was killed). */
  serverRsts: number;
}

export interface WireDistribution {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

/** The early end of a distribution, microseconds: how soon something can happen, not how late. */
export interface WireLowTail {
  count: number;
  min: number | null;
  p1: number | null;
  p10: number | null;
  p50: number | null;
}

export interface WireLabelSummary {
  attempts: number;
  /** Attempts that drew at least one injected RST. */
  withInjectedRst: number;
  /** SYN to first injected RST, microseconds. */
  synToRstUs: WireDistribution;
  /** Attempts where server payload reached the client's port before the first injected RST (or at all). */
  withServerPayloadBeforeRst: number;
  serverPayloadBytesBeforeRst: number;
  /** SYN to the server's first payload on the client's port, for the attempts that got any (see WireAttempt). */
  synToFirstServerByteUs: WireLowTail;
}

export interface WireTiming {
  packets: number;
  decodeErrors: number;
  injectedRstFrames: number;
  /** Injected RSTs that belong to no attempt seen in this capture (a session opened before it started). */
  injectedRstUnmatched: number;
  labels: Record<string, WireLabelSummary>;
  /** Only when requested (can be large). */
  attempts?: WireAttempt[];
}

function macBytes(mac: string): number[] {
  const parts = mac.split(':').map((h) => parseInt(h, 16));
  if (parts.length !== 6 || parts.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new Error(`bad MAC address "${mac}"`);
  return parts;
}

/** Canonical text of an address, so that "2001:2:0::1:1" and "2001:2::1:1" are one key. */
export function canonicalAddress(text: string): string {
  if (text.includes(':')) {
    const w = new Uint32Array(4);
    if (!parseIPv6(text, w)) throw new Error(`bad IPv6 address "${text}"`);
    return formatIPv6(w[0]!, w[1]!, w[2]!, w[3]!);
  }
  return formatIPv4(parseIPv4(text));
}

function addressOf(w0: number, w1: number, w2: number, w3: number, version: number): string {
  return version === 4 ? formatIPv4(w3) : formatIPv6(w0, w1, w2, w3);
}

/** Nanosecond values as sorted microseconds. */
function sortedUs(valuesNs: number[]): number[] {
  return valuesNs.map((v) => v / 1000).sort((a, b) => a - b);
}

/** A figure in microseconds to one decimal (null stays null). */
function tenth(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10) / 10;
}

function distributionUs(valuesNs: number[]): WireDistribution {
  const us = sortedUs(valuesNs);
  return {
    count: us.length,
    p50: tenth(percentile(us, 50)),
    p90: tenth(percentile(us, 90)),
    p99: tenth(percentile(us, 99)),
    p999: tenth(percentile(us, 99.9)),
    max: tenth(us.length > 0 ? us[us.length - 1]! : null),
  };
}

function lowTailUs(valuesNs: number[]): WireLowTail {
  const us = sortedUs(valuesNs);
  return { count: us.length, min: tenth(us.length > 0 ? us[0]! : null), p1: tenth(percentile(us, 1)), p10: tenth(percentile(us, 10)), p50: tenth(percentile(us, 50)) };
}

export function analyseWireTiming(pcapPath: string, options: WireTimingOptions, keepAttempts = false): WireTiming {
  const injectors = options.injectorMacs.map(macBytes);
  const labels = new Map<string, string>();
  for (const [addr, label] of options.serverLabels) labels.set(canonicalAddress(addr), label);

  const open = new Map<string, { attempt: WireAttempt; isn: number }>();
  const attempts: WireAttempt[] = [];
  const result: WireTiming = { packets: 0, decodeErrors: 0, injectedRstFrames: 0, injectedRstUnmatched: 0, labels: {} };
  const pkt = new DecodedPacket();
  const { source } = openCaptureFile(pcapPath);
  let baseSec = -1;
  try {
    while (source.next()) {
      result.packets++;
      if (baseSec < 0) baseSec = source.tsSec;
      const ns = (source.tsSec - baseSec) * 1e9 + source.tsNsec;
      const r = decodePacket(pkt, source.data, source.offset, source.capturedLength, source.wireLength, source.linkType);
      if (r === DecodeResult.error) {
        result.decodeErrors++;
        continue;
      }
      if (r !== DecodeResult.flow || pkt.l4Protocol !== IpProto.TCP || pkt.tunnelDepth > 0 || pkt.l2Offset < 0) continue;
      const src = addressOf(pkt.src0, pkt.src1, pkt.src2, pkt.src3, pkt.ipVersion);
      const dst = addressOf(pkt.dst0, pkt.dst1, pkt.dst2, pkt.dst3, pkt.ipVersion);
      const toServer = labels.has(dst);
      if (!toServer && !labels.has(src)) continue;
      const key = toServer ? `${src}|${pkt.srcPort}|${dst}|${pkt.dstPort}` : `${dst}|${pkt.dstPort}|${src}|${pkt.srcPort}`;
      const flags = pkt.tcpFlags;
      let current = open.get(key);

      if (toServer) {
        if ((flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) {
          // A SYN with a new ISN is a new attempt (ports get reused across thousands of connections);
          // the same ISN again is a retransmission of the same attempt.
          if (!current || current.isn !== pkt.seq) {
            const attempt: WireAttempt = {
              label: labels.get(dst)!,
              client: src,
              sport: pkt.srcPort,
              server: dst,
              dport: pkt.dstPort,
              synNs: ns,
              firstInjectedRstNs: null,
              serverPayloadBeforeRst: 0,
              firstServerPayloadNs: null,
              injectedRsts: 0,
              serverRsts: 0,
            };
            current = { attempt, isn: pkt.seq };
            open.set(key, current);
            attempts.push(attempt);
          }
        }
        continue;
      }

      const injected = isFrom(pkt.data, pkt.l2Offset + 6, injectors);
      if (injected && (flags & TcpFlag.RST) !== 0) {
        result.injectedRstFrames++;
        if (!current) {
          result.injectedRstUnmatched++;
          continue;
        }
        current.attempt.injectedRsts++;
        current.attempt.firstInjectedRstNs ??= ns;
        continue;
      }
      if (!current || injected) continue;
      if ((flags & TcpFlag.RST) !== 0) current.attempt.serverRsts++;
      if (pkt.payloadLength > 0) {
        current.attempt.firstServerPayloadNs ??= ns;
        if (current.attempt.firstInjectedRstNs === null) current.attempt.serverPayloadBeforeRst += pkt.payloadLength;
      }
    }
  } finally {
    source.close();
  }

  const byLabel = new Map<string, WireAttempt[]>();
  for (const a of attempts) {
    const list = byLabel.get(a.label) ?? [];
    list.push(a);
    byLabel.set(a.label, list);
  }
  for (const [label, list] of byLabel) {
    const delays = list.filter((a) => a.firstInjectedRstNs !== null).map((a) => a.firstInjectedRstNs! - a.synNs);
    const leaky = list.filter((a) => a.serverPayloadBeforeRst > 0);
    result.labels[label] = {
      attempts: list.length,
      withInjectedRst: delays.length,
      synToRstUs: distributionUs(delays),
      withServerPayloadBeforeRst: leaky.length,
      serverPayloadBytesBeforeRst: leaky.reduce((s, a) => s + a.serverPayloadBeforeRst, 0),
      synToFirstServerByteUs: lowTailUs(list.filter((a) => a.firstServerPayloadNs !== null).map((a) => a.firstServerPayloadNs! - a.synNs)),
    };
  }
  if (keepAttempts) result.attempts = attempts;
  return result;
}

function isFrom(data: Uint8Array, macOffset: number, macs: readonly number[][]): boolean {
  outer: for (const mac of macs) {
    for (let i = 0; i < 6; i++) if (data[macOffset + i] !== mac[i]) continue outer;
    return true;
  }
  return false;
}
