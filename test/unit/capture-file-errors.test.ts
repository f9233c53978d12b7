/**
 * Corrupt capture files: each must end in a CaptureFileError that names the file and gives the exact byte
 * offset of the fault, after every packet before the fault has been delivered.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_RECORD_BYTES } from '../../src/capture/file/limits.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import { DecodeError } from '../../src/decode/decode-error.js';
import { CaptureFileError } from '../../src/util/errors.js';
import * as B from '../support/packet-builder.js';
import { readAll, type ReadResult } from './capture-helpers.js';

const tmp = new B.TempDir();
afterAll(() => tmp.remove());

const f1 = B.ethIpv4Tcp({ tcp: { sport: 1, dport: 2 } });
const f2 = B.ethIpv4Udp({ sport: 3, dport: 4, payload: B.pattern(17) });
const good = [f1, f2];

function expectFault(path: string, r: ReadResult, offset: number, what: RegExp, delivered: Uint8Array[]): CaptureFileError {
  expect(r.error, 'an error was expected').toBeInstanceOf(CaptureFileError);
  const e = r.error as CaptureFileError;
  expect(e.name).toBe('CaptureFileError');
  expect(e.code).toBe('capture_file');
  expect(e.file).toBe(path);
  expect(e.message).toContain(path);
  expect(e.message).toMatch(what);
  expect(e.message).toContain(`at byte offset ${offset}`);
  expect(e.offset).toBe(offset);
  expect(r.packets.map((p) => Array.from(p.data))).toEqual(delivered.map((d) => Array.from(d)));
  return e;
}

const pcapOf = (records: B.PcapRecord[], o: B.PcapFileOptions = {}): B.BuiltFile => B.buildPcap(records, o);
const goodPcap = (o: B.PcapFileOptions = {}): B.BuiltFile => pcapOf(good.map((data) => ({ data })), o);

describe('opening', () => {
  it('empty file', () => {
    const path = tmp.write([]);
    expectFault(path, readAll(path), 0, /empty file/, []);
  });

  it('one to three bytes', () => {
    for (let n = 1; n < 4; n++) {
      const path = tmp.write(B.zeros(n));
      expectFault(path, readAll(path), 0, /truncated capture file header/, []);
    }
  });

  it('wrong magic', () => {
    const path = tmp.write(B.bytes([0x7f, 0x45, 0x4c, 0x46], B.zeros(60)));
    expectFault(path, readAll(path), 0, /unknown capture file format \(magic 0x464c457f\)/, []);
  });

  it('missing file and directory', () => {
    const missing = join(tmp.path, 'does-not-exist.pcap');
    expectFault(missing, readAll(missing), 0, /cannot open \(ENOENT\)/, []);
    const dir = join(tmp.path, 'a-directory');
    mkdirSync(dir);
    expectFault(dir, readAll(dir), 0, /is a directory/, []);
  });
});

describe('classic pcap', () => {
  for (const bigEndian of [false, true]) {
    const order = bigEndian ? 'big-endian' : 'little-endian';

    it(`${order}: truncated file header (fault at end of file)`, () => {
      for (const n of [4, 10, 23]) {
        const path = tmp.write(goodPcap({ bigEndian }).bytes.subarray(0, n));
        expectFault(path, readAll(path), n, /truncated pcap file header/, []);
      }
    });

    it(`${order}: unsupported major version`, () => {
      const path = tmp.write(pcapOf([], { bigEndian, versionMajor: 3 }).bytes);
      expectFault(path, readAll(path), 4, /unsupported pcap version 3/, []);
    });

    it(`${order}: truncated record header after two good records`, () => {
      const built = goodPcap({ bigEndian });
      for (const extra of [1, 8, 15]) {
        const path = tmp.write(B.bytes(built.bytes, B.pattern(extra)));
        expectFault(path, readAll(path), built.bytes.length, /truncated record header/, good);
      }
    });

    it(`${order}: record data running past the end of the file`, () => {
      const built = pcapOf([...good, f1].map((data) => ({ data })), { bigEndian });
      const path = tmp.write(built.bytes.subarray(0, built.bytes.length - 1));
      expectFault(path, readAll(path), built.offsets[2]!, /truncated record: header says 54 bytes/, good);
    });

    it(`${order}: impossible record length`, () => {
      for (const incl of [MAX_RECORD_BYTES + 1, 0x7fffffff, 0xffffffff]) {
        const built = pcapOf([...good.map((data) => ({ data })), { data: f1, inclField: incl, origField: incl }], { bigEndian });
        const path = tmp.write(built.bytes);
        expectFault(path, readAll(path), built.offsets[2]! + 8, new RegExp(`impossible record length ${incl}`), good);
      }
    });
  }

  it('version 2.2: an impossible captured length points at the field that holds it (the second one)', () => {
    // In a 2.2 file the captured length is the second length field (record offset + 12).
    const built = pcapOf([{ data: f1 }, { data: f2, inclField: 100, origField: 0x10000000 }], { versionMinor: 2 });
    const path = tmp.write(built.bytes);
    expectFault(path, readAll(path), built.offsets[1]! + 12, /impossible record length 268435456/, [f1]);
  });

  it('zero-length records are valid, counted, and decode as ethernet_truncated', () => {
    const built = pcapOf([{ data: [] }, { data: f1 }, { data: [], origLen: 60 }]);
    const path = tmp.write(built.bytes);
    const r = readAll(path);
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => [p.capturedLength, p.wireLength])).toEqual([
      [0, 0],
      [f1.length, f1.length],
      [0, 60],
    ]);
    const pkt = new DecodedPacket();
    expect(decodePacket(pkt, r.packets[0]!.data, 0, 0, 0, 1)).toBe(DecodeResult.error);
    expect(pkt.error).toBe(DecodeError.ethernet_truncated);
    expect(decodePacket(pkt, r.packets[2]!.data, 0, 0, 60, 1)).toBe(DecodeResult.error);
    expect(pkt.error).toBe(DecodeError.ethernet_truncated);
  });

  it('a header-only file is a valid empty capture', () => {
    const r = readAll(tmp.write(pcapOf([]).bytes));
    expect([r.error, r.packets.length, r.format]).toEqual([undefined, 0, 'pcap']);
  });
});

describe('pcapng', () => {
  const blocks = (bigEndian: boolean): B.NgBlock[] => [
    { type: 'shb', bigEndian },
    { type: 'idb', linkType: 1 },
    { type: 'epb', iface: 0, ticks: 1n, data: f1 },
    { type: 'epb', iface: 0, ticks: 2n, data: f2 },
  ];
  const goodNg = (bigEndian = false): B.BuiltFile => B.buildPcapng(blocks(bigEndian));

  for (const bigEndian of [false, true]) {
    const order = bigEndian ? 'big-endian' : 'little-endian';

    it(`${order}: truncated section header`, () => {
      const built = goodNg(bigEndian);
      for (const n of [4, 8, 11]) {
        const path = tmp.write(built.bytes.subarray(0, n));
        expectFault(path, readAll(path), n, /truncated pcapng section header/, []);
      }
      for (const n of [12, 20, 27]) {
        const path = tmp.write(built.bytes.subarray(0, n));
        expectFault(path, readAll(path), 0, /truncated section header block/, []);
      }
    });

    it(`${order}: bad byte-order magic`, () => {
      const path = tmp.write(B.buildPcapng([{ type: 'shb', bigEndian, byteOrderMagic: 0x12345678 }]).bytes);
      expectFault(path, readAll(path), 8, /bad byte-order magic 0x12345678/, []);
    });

    it(`${order}: unsupported major version`, () => {
      const path = tmp.write(B.buildPcapng([{ type: 'shb', bigEndian, major: 2 }]).bytes);
      expectFault(path, readAll(path), 12, /unsupported pcapng major version 2/, []);
    });

    it(`${order}: bad block length (too small, not a multiple of 4, too large)`, () => {
      const built = goodNg(bigEndian);
      for (const len of [0, 8, 13, 30, 0x7ffffff0]) {
        const bad = B.buildPcapng([{ type: 'shb', bigEndian }, { type: 'raw', blockType: 0x99, body: B.zeros(8), lengthField: len }]);
        const bytes = B.bytes(built.bytes, bad.bytes.subarray(bad.offsets[1]!));
        const path = tmp.write(bytes);
        expectFault(path, readAll(path), built.bytes.length + 4, new RegExp(`invalid block length ${len} for block type 0x99`), good);
      }
    });

    it(`${order}: trailer length does not match the header`, () => {
      const built = goodNg(bigEndian);
      const bad = B.buildPcapng([{ type: 'shb', bigEndian }, { type: 'raw', blockType: 0x99, body: B.zeros(8), trailerField: 24 }]);
      const path = tmp.write(B.bytes(built.bytes, bad.bytes.subarray(bad.offsets[1]!)));
      expectFault(path, readAll(path), built.bytes.length + 20 - 4, /block trailer length does not match/, good);
    });

    it(`${order}: block running past the end of the file`, () => {
      const built = B.buildPcapng([...blocks(bigEndian), { type: 'epb', iface: 0, ticks: 3n, data: f1 }]);
      const path = tmp.write(built.bytes.subarray(0, built.bytes.length - 4));
      expectFault(path, readAll(path), built.offsets[4]!, /truncated block: type 0x6 says/, good);
    });

    it(`${order}: truncated block header`, () => {
      const built = goodNg(bigEndian);
      for (const extra of [1, 4, 11]) {
        const path = tmp.write(B.bytes(built.bytes, B.zeros(extra)));
        expectFault(path, readAll(path), built.bytes.length, /truncated block header/, good);
      }
    });

    it(`${order}: packet referring to an undefined interface`, () => {
      const built = B.buildPcapng([...blocks(bigEndian), { type: 'epb', iface: 1, ticks: 3n, data: f1 }]);
      const path = tmp.write(built.bytes);
      expectFault(path, readAll(path), built.offsets[4]!, /refers to interface 1, but only 1 are described/, good);
    });

    it(`${order}: packets before any interface (EPB, SPB, PB)`, () => {
      for (const b of [
        { type: 'epb', iface: 0, ticks: 1n, data: f1 },
        { type: 'spb', data: f1 },
        { type: 'pb', iface: 0, ticks: 1n, data: f1 },
      ] as B.NgBlock[]) {
        const built = B.buildPcapng([{ type: 'shb', bigEndian }, b]);
        const path = tmp.write(built.bytes);
        expectFault(path, readAll(path), built.offsets[1]!, /refers to interface 0, but only 0 are described/, []);
      }
    });

    it(`${order}: impossible captured length in an enhanced packet block`, () => {
      for (const cap of [f1.length + 4, MAX_RECORD_BYTES + 1, 0xffffffff]) {
        const built = B.buildPcapng([...blocks(bigEndian), { type: 'epb', iface: 0, ticks: 3n, data: f1, capturedField: cap }]);
        const path = tmp.write(built.bytes);
        expectFault(path, readAll(path), built.offsets[4]! + 20, new RegExp(`impossible captured length ${cap}`), good);
      }
    });

    it(`${order}: blocks too short for their type`, () => {
      const built = goodNg(bigEndian);
      for (const [type, body, what] of [
        [6, 16, /enhanced packet block too short \(28 bytes\)/],
        [2, 16, /packet block too short \(28 bytes\)/],
        [3, 0, /simple packet block too short \(12 bytes\)/],
        [1, 4, /interface description block too short \(16 bytes\)/],
      ] as [number, number, RegExp][]) {
        const bad = B.buildPcapng([{ type: 'shb', bigEndian }, { type: 'raw', blockType: type, body: B.zeros(body) }]);
        const path = tmp.write(B.bytes(built.bytes, bad.bytes.subarray(bad.offsets[1]!)));
        expectFault(path, readAll(path), built.bytes.length, what, good);
      }
    });

    it(`${order}: a second section header with a bad length`, () => {
      const built = goodNg(bigEndian);
      const shb = B.buildPcapng([{ type: 'shb', bigEndian }]).bytes;
      const bad = Uint8Array.from(shb);
      // Length 24: below the 28-byte minimum.
      bad.set(bigEndian ? B.u32(24) : B.u32le(24), 4);
      const path = tmp.write(B.bytes(built.bytes, bad));
      expectFault(path, readAll(path), built.bytes.length + 4, /invalid section header length 24/, good);
    });
  }

  it('zero-length enhanced packet blocks are valid and counted', () => {
    const built = B.buildPcapng([{ type: 'shb' }, { type: 'idb', linkType: 1 }, { type: 'epb', iface: 0, ticks: 1n, data: [] }, { type: 'epb', iface: 0, ticks: 2n, data: f1 }]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => p.capturedLength)).toEqual([0, f1.length]);
    const pkt = new DecodedPacket();
    expect(decodePacket(pkt, r.packets[0]!.data, 0, 0, 0, 1)).toBe(DecodeResult.error);
    expect(pkt.error).toBe(DecodeError.ethernet_truncated);
  });

  it('a section header alone is a valid empty capture', () => {
    const r = readAll(tmp.write(B.buildPcapng([{ type: 'shb' }]).bytes));
    expect([r.error, r.packets.length, r.format]).toEqual([undefined, 0, 'pcapng']);
  });
});
