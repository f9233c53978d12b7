/**
 * Shared helpers for the decoder tests: decode a hand-built frame placed at a non-zero offset inside a larger
 * buffer whose bytes after the captured end are junk, so a decoder that ignores `offset` or reads past the
 * captured end gives itself away.
 */
import { expect } from 'vitest';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult, NoFlowReason, noFlowReasonNames } from '../../src/decode/decoded-packet.js';
import { DecodeError, decodeErrorNames, type DecodeErrorName } from '../../src/decode/decode-error.js';
import { ipv4MappedWords, ipv6Words } from '../support/packet-builder.js';

export const LEAD = 7;
const JUNK = 0xee;

export interface DecodeOptions {
  linkType?: number;
  /** Bytes captured (default: the whole frame). The rest of the frame is replaced by junk in the buffer. */
  captured?: number;
  /** Length on the wire (default: the frame's length). */
  wire?: number;
  /** Byte value that fills the buffer before the frame and after the captured end (default 0xee). */
  junk?: number;
}

export interface Decoded {
  result: number;
  pkt: DecodedPacket;
  /** Offset of the frame in pkt.data. */
  base: number;
  error: string;
  anomaly: string;
  noFlow: string;
}

const shared = new DecodedPacket();

export function decode(frame: Uint8Array, opts: DecodeOptions = {}): Decoded {
  const captured = opts.captured ?? frame.length;
  const wire = opts.wire ?? frame.length;
  const buf = new Uint8Array(LEAD + captured + 64).fill(opts.junk ?? JUNK);
  buf.set(frame.subarray(0, captured), LEAD);
  const result = decodePacket(shared, buf, LEAD, captured, wire, opts.linkType ?? 1);
  return {
    result,
    pkt: shared,
    base: LEAD,
    error: decodeErrorNames[shared.error] ?? `unknown(${shared.error})`,
    anomaly: decodeErrorNames[shared.anomaly] ?? `unknown(${shared.anomaly})`,
    noFlow: noFlowReasonNames[shared.noFlowReason] ?? `unknown(${shared.noFlowReason})`,
  };
}

export function resultName(r: number): string {
  return r === DecodeResult.flow ? 'flow' : r === DecodeResult.noFlow ? 'noFlow' : r === DecodeResult.error ? 'error' : `bad(${r})`;
}

/** Decodes and asserts a flow with no error, no anomaly. */
export function expectFlow(frame: Uint8Array, opts: DecodeOptions = {}): DecodedPacket {
  const d = decode(frame, opts);
  expect({ result: resultName(d.result), error: d.error, anomaly: d.anomaly }).toEqual({ result: 'flow', error: 'none', anomaly: 'none' });
  return d.pkt;
}

export function expectError(frame: Uint8Array, name: DecodeErrorName, opts: DecodeOptions = {}): DecodedPacket {
  const d = decode(frame, opts);
  expect({ result: resultName(d.result), error: d.error }).toEqual({ result: 'error', error: name });
  expect(d.pkt.error).toBe(DecodeError[name]);
  return d.pkt;
}

export function expectNoFlow(frame: Uint8Array, reason: keyof typeof NoFlowReason, opts: DecodeOptions = {}): DecodedPacket {
  const d = decode(frame, opts);
  expect({ result: resultName(d.result), error: d.error, noFlow: d.noFlow }).toEqual({ result: 'noFlow', error: 'none', noFlow: reason });
  return d.pkt;
}

export function srcWords(p: DecodedPacket): number[] {
  return [p.src0, p.src1, p.src2, p.src3];
}

export function dstWords(p: DecodedPacket): number[] {
  return [p.dst0, p.dst1, p.dst2, p.dst3];
}

/** Asserts the 5-tuple of a decoded packet. Addresses with a ':' are IPv6. */
export function expectTuple(p: DecodedPacket, src: string, dst: string, proto: number, sport: number, dport: number): void {
  const words = (a: string): number[] => (a.includes(':') ? ipv6Words(a) : ipv4MappedWords(a));
  expect({
    src: srcWords(p),
    dst: dstWords(p),
    proto: p.l4Protocol,
    sport: p.srcPort,
    dport: p.dstPort,
    ipVersion: p.ipVersion,
  }).toEqual({ src: words(src), dst: words(dst), proto, sport, dport, ipVersion: src.includes(':') ? 6 : 4 });
}
