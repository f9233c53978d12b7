/**
 * Seeded, reproducible fuzzing of the capture-file readers: mutated pcap and pcapng files through
 * openCaptureFile + next(). Only CaptureFileError may ever be thrown, every packet handed out must be
 * consistent, and reading must end.
 */
import { truncateSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '../../src/capture/file/limits.js';
import { ChunkedFile } from '../../src/capture/file/chunked-file.js';
import { openCaptureFile } from '../../src/capture/file/open-capture-file.js';
import { PcapReader } from '../../src/capture/file/pcap-reader.js';
import { PcapngReader } from '../../src/capture/file/pcapng-reader.js';
import type { PacketSource } from '../../src/capture/packet-source.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket } from '../../src/decode/decoded-packet.js';
import { CaptureFileError } from '../../src/util/errors.js';
import * as B from '../support/packet-builder.js';

const tmp = new B.TempDir();
afterAll(() => tmp.remove());

const frames = [
  B.ethIpv4Tcp({ tcp: { sport: 1, dport: 2, flags: 0x02 } }),
  B.ethIpv4Udp({ sport: 3, dport: 4789, payload: B.vxlan(1, B.ethIpv4Tcp({ tcp: { sport: 5, dport: 6 } })) }),
  B.ethernet(B.ETH.IPV6, B.ipv6({ next: B.PROTO.UDP }, B.udp({ sport: 7, dport: 8 }, B.pattern(21)))),
  B.ethernet(B.ETH.ARP, B.zeros(28)),
];
const raw = B.ipv4({ proto: B.PROTO.TCP }, B.tcp({ sport: 9, dport: 10 }));

function pcapCorpus(): B.BuiltFile[] {
  const recs = (n: number): B.PcapRecord[] => Array.from({ length: n }, (_, i) => ({ data: frames[i % frames.length]!, tsSec: 100 + i, tsFrac: i * 7 }));
  return [
    B.buildPcap(recs(6)),
    B.buildPcap(recs(5), { bigEndian: true, nanosecond: true }),
    B.buildPcap(recs(4), { versionMinor: 2 }),
    B.buildPcap([{ data: raw }, { data: raw.subarray(0, 20), origLen: raw.length }], { linkType: 101, bigEndian: true }),
  ];
}

/** Blocks that carry a packet. */
const isPacketBlock = (b: B.NgBlock): boolean => b.type === 'epb' || b.type === 'spb' || b.type === 'pb';

interface Sample {
  built: B.BuiltFile;
  /** Per record/block: whether it carries a packet. */
  packet: boolean[];
}

function samples(): Sample[] {
  return [
    ...pcapCorpus().map((built) => ({ built, packet: built.offsets.map(() => true) })),
    ...pcapngBlocks().map((blocks) => ({ built: B.buildPcapng(blocks), packet: blocks.map(isPacketBlock) })),
  ];
}

function pcapngCorpus(): B.BuiltFile[] {
  return pcapngBlocks().map((blocks) => B.buildPcapng(blocks));
}

function pcapngBlocks(): B.NgBlock[][] {
  return [
    [
      { type: 'shb', options: [{ code: 4, value: B.pattern(5) }] },
      { type: 'idb', linkType: 1, tsresol: 6 },
      { type: 'idb', linkType: 101, tsresol: 9, tsoffset: 3 },
      { type: 'epb', iface: 0, ticks: 1_000_000n, data: frames[0]! },
      { type: 'epb', iface: 1, ticks: 2_000_000_000n, data: raw, options: [{ code: 1, value: B.pattern(3) }] },
      { type: 'raw', blockType: 5, body: B.zeros(20) },
      { type: 'spb', data: frames[1]! },
      { type: 'pb', iface: 1, ticks: 5n, data: raw },
      { type: 'epb', iface: 0, ticks: 3_000_000n, data: frames[2]! },
    ],
    [
      { type: 'shb', bigEndian: true },
      { type: 'idb', linkType: 113, tsresol: 0x8a, snapLength: 64 },
      { type: 'epb', iface: 0, ticks: 1024n, data: B.sll(B.ETH.IPV4, raw) },
      { type: 'shb' },
      { type: 'idb', linkType: 1 },
      { type: 'epb', iface: 0, ticks: 7n, data: frames[3]! },
      { type: 'spb', data: frames[0]!, origLen: 1500 },
    ],
  ];
}

const BOUNDARY32 = [0, 1, 4, 11, 12, 13, 16, 28, 31, 32, 0x7fffffff, 0x80000000, 0xffffffff, MAX_RECORD_BYTES, MAX_RECORD_BYTES + 1, 0x0a0d0d0a, 0x1a2b3c4d];

function mutate(rng: B.Rng, src: Uint8Array): Uint8Array {
  let d: Uint8Array = Uint8Array.from(src);
  for (let k = 1 + rng.int(3); k > 0; k--) {
    switch (rng.int(6)) {
      case 0:
        for (let n = 1 + rng.int(6); n > 0 && d.length; n--) d[rng.int(d.length)]! ^= 1 << rng.int(8);
        break;
      case 1: {
        // A 32-bit field (length, type, interface id, captured length) set to a boundary value, either byte order.
        if (d.length < 4) break;
        const o = rng.int(d.length - 3) & (rng.bool(0.8) ? ~3 : ~0);
        const v = rng.bool(0.7) ? rng.pick(BOUNDARY32) : rng.bool() ? d.length - o + rng.int(9) - 4 : rng.u32();
        const bytes = rng.bool() ? B.u32le(v) : B.u32(v);
        for (let i = 0; i < 4; i++) d[o + i] = bytes[i]!;
        break;
      }
      case 2:
        d = d.subarray(0, rng.int(d.length + 1));
        break;
      case 3: {
        const o = rng.int(d.length + 1);
        d = B.bytes(d.subarray(0, o), rng.bytes(1 + rng.int(16)), d.subarray(o));
        break;
      }
      case 4: {
        if (d.length < 8) break;
        const a = rng.int(d.length - 4);
        d = B.bytes(d.subarray(0, a), d.subarray(a + 1 + rng.int(Math.min(32, d.length - a - 1))));
        break;
      }
      case 5: {
        // Duplicate a block-sized slice (repeated or spliced blocks).
        if (d.length < 16) break;
        const a = rng.int(d.length - 12);
        const len = 12 + rng.int(Math.min(120, d.length - a - 12));
        const at = rng.int(d.length);
        d = B.bytes(d.subarray(0, at), d.subarray(a, a + len), d.subarray(at));
        break;
      }
    }
  }
  return d;
}

interface Outcome {
  packets: number;
  error?: CaptureFileError;
  problem?: string;
  /** Every packet, summarised, to compare readers with different buffer sizes. */
  trace: string[];
}

/**
 * Opens like openCaptureFile, but with a tiny read buffer so that every record crosses refills and growths
 * of the buffer. Falls back to openCaptureFile when the magic is not one the readers take.
 */
function openSmall(path: string, chunk: number): PacketSource {
  const file = new ChunkedFile(path, chunk);
  if (file.ensure(4)) {
    const magic = file.buf.readUInt32LE(file.pos);
    if (magic === 0x0a0d0d0a) return new PcapngReader(file);
    if ([0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(magic)) return new PcapReader(file);
  }
  file.close();
  return openCaptureFile(path).source;
}

const pkt = new DecodedPacket();

/** Reads a file to the end; returns a problem description instead of throwing. */
function consume(path: string, size: number, chunk?: number): Outcome {
  const out: Outcome = { packets: 0, trace: [] };
  // Every record or block takes at least 12 bytes: more packets than that means next() is not advancing.
  const bound = Math.floor(size / 12) + 2;
  let source: PacketSource | undefined;
  try {
    source = chunk === undefined ? openCaptureFile(path).source : openSmall(path, chunk);
    while (source.next()) {
      out.packets++;
      const s = source;
      if (out.packets > bound) return { ...out, problem: `more than ${bound} packets from ${size} bytes` };
      if (!(Number.isInteger(s.capturedLength) && s.capturedLength >= 0 && s.capturedLength <= MAX_RECORD_BYTES)) return { ...out, problem: `capturedLength ${s.capturedLength}` };
      if (!(s.offset >= 0 && s.offset + s.capturedLength <= s.data.length)) return { ...out, problem: `packet [${s.offset}, +${s.capturedLength}) outside buffer of ${s.data.length}` };
      if (!(s.wireLength >= s.capturedLength && Number.isInteger(s.wireLength))) return { ...out, problem: `wireLength ${s.wireLength} < capturedLength ${s.capturedLength}` };
      if (!(Number.isInteger(s.tsNsec) && s.tsNsec >= 0 && s.tsNsec < 1e9)) return { ...out, problem: `tsNsec ${s.tsNsec}` };
      if (!Number.isFinite(s.tsSec)) return { ...out, problem: `tsSec ${s.tsSec}` };
      if (!(s.recordOffset >= 0 && s.recordOffset < size)) return { ...out, problem: `recordOffset ${s.recordOffset}` };
      decodePacket(pkt, s.data, s.offset, s.capturedLength, s.wireLength, s.linkType);
      const data = s.data.subarray(s.offset, s.offset + s.capturedLength);
      out.trace.push(`${s.recordOffset} ${s.linkType}/${s.interfaceId} ${s.capturedLength}/${s.wireLength} ${s.tsSec}.${s.tsNsec} ${Buffer.from(data).toString('hex')}`);
    }
  } catch (err) {
    if (!(err instanceof CaptureFileError)) return { ...out, problem: `threw ${(err as Error)?.name}: ${(err as Error)?.message}` };
    if (err.file !== path || !err.message.includes(path)) return { ...out, problem: `error does not name the file: ${err.message}` };
    if (!(Number.isInteger(err.offset) && err.offset >= 0 && err.offset <= size)) return { ...out, problem: `error offset ${err.offset} outside file of ${size}: ${err.message}` };
    out.error = err;
  } finally {
    source?.close();
  }
  return out;
}

describe('capture file fuzz', () => {
  it('truncation at every length: exactly the complete records come out, then an error at the cut record', () => {
    for (const { built, packet } of samples()) {
      // Packet-bearing records end at the next record's offset (or at the end of the file).
      const ends = built.offsets.map((_, i) => built.offsets[i + 1] ?? built.bytes.length);
      const packetEnds = ends.filter((_, i) => packet[i]);
      expect(packetEnds.length).toBeGreaterThanOrEqual(2);
      // Written once, then cut shorter and shorter (rewriting a file per length is slow on some file systems).
      const path = tmp.write(built.bytes);
      for (let len = built.bytes.length; len >= 0; len--) {
        truncateSync(path, len);
        // A 16-byte read buffer for every length (cheap, and every record crosses buffer refills);
        // openCaptureFile's default buffer for some of them: both must give the same answer.
        const o = consume(path, len, 16);
        if (len % 13 === 0) {
          const d = consume(path, len);
          expect([d.trace, d.error?.message, d.problem]).toEqual([o.trace, o.error?.message, o.problem]);
        }
        if (o.problem) expect.fail(`length ${len}: ${o.problem}`);
        const complete = packetEnds.filter((e) => e <= len).length;
        // A clean end only where a record or block starts (for pcap, the first starts right after the header).
        const atBoundary = len > 0 && (built.offsets.includes(len) || len === built.bytes.length);
        if (o.packets !== complete || (o.error === undefined) !== atBoundary) {
          expect.fail(`length ${len}: ${o.packets} packets (expected ${complete}), error ${o.error?.message ?? 'none'} (expected ${atBoundary ? 'none' : 'one'})`);
        }
        if (o.error) expect(o.error.offset).toBeLessThanOrEqual(len);
      }
    }
  });

  for (const [name, corpus, seed] of [
    ['pcap', pcapCorpus, 101],
    ['pcapng', pcapngCorpus, 202],
  ] as const) {
    it(`${name}: random mutations throw only CaptureFileError, hand out consistent packets, and end`, () => {
      const rng = new B.Rng(seed);
      const base = corpus().map((b) => b.bytes);
      const problems: string[] = [];
      let errors = 0;
      let packets = 0;
      for (let i = 0; i < 500; i++) {
        const bytes = mutate(rng, rng.pick(base));
        const path = tmp.write(bytes);
        const o = consume(path, bytes.length);
        // The same file through a tiny read buffer: identical packets and error.
        const small = consume(path, bytes.length, 8 + rng.int(60));
        if (!o.problem && (small.problem || small.trace.join() !== o.trace.join() || small.error?.message !== o.error?.message)) {
          o.problem = `small read buffer disagrees: ${small.problem ?? ''} ${small.trace.length} vs ${o.trace.length} packets, ${small.error?.message} vs ${o.error?.message}`;
        }
        packets += o.packets;
        if (o.error) errors++;
        if (o.problem && problems.length < 5) problems.push(`seed ${seed} iteration ${i}: ${o.problem}\n  ${Buffer.from(bytes).toString('hex')}`);
      }
      expect(problems).toEqual([]);
      // The mutations are neither all fatal nor all harmless.
      expect(errors).toBeGreaterThan(100);
      expect(packets).toBeGreaterThan(500);
    });
  }
});
