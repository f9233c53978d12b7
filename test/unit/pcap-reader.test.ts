import { afterAll, describe, expect, it } from 'vitest';
import { PcapReader } from '../../src/capture/file/pcap-reader.js';
import { MAX_RECORD_BYTES } from '../../src/capture/file/limits.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import * as B from '../support/packet-builder.js';
import { readAll, sameBytes } from './capture-helpers.js';

const tmp = new B.TempDir();
afterAll(() => tmp.remove());

const frames = [
  B.ethIpv4Tcp({ src: '10.0.0.1', dst: '10.0.0.2', tcp: { sport: 1000, dport: 80, flags: B.TCP_FLAGS.SYN } }),
  B.ethIpv4Udp({ src: '10.0.0.3', dst: '10.0.0.4', sport: 53, dport: 5353, payload: B.pattern(100) }),
  B.ethernet(B.ETH.ARP, B.zeros(28)),
];

describe('classic pcap', () => {
  for (const nanosecond of [false, true]) {
    for (const bigEndian of [false, true]) {
      it(`${nanosecond ? 'ns' : 'µs'} ${bigEndian ? 'big' : 'little'}-endian: every field of every record`, () => {
        const fracs = nanosecond ? [0, 999_999_999, 123_456_789] : [0, 999_999, 123_456];
        const records = frames.map((data, i) => ({ data, tsSec: 1_700_000_000 + i, tsFrac: fracs[i]!, origLen: data.length + i * 10 }));
        const built = B.buildPcap(records, { nanosecond, bigEndian, linkType: 1, snapLength: 65535 });
        const path = tmp.write(built.bytes);
        const r = readAll(path);
        expect(r.error).toBeUndefined();
        expect([r.format, r.size]).toEqual(['pcap', built.bytes.length]);
        expect(r.packets.length).toBe(3);
        r.packets.forEach((p, i) => {
          expect(p.data).toEqual(frames[i]);
          expect(p.capturedLength).toBe(frames[i]!.length);
          expect(p.wireLength).toBe(frames[i]!.length + i * 10);
          expect(p.tsSec).toBe(1_700_000_000 + i);
          expect(p.tsNsec).toBe(nanosecond ? fracs[i] : fracs[i]! * 1000);
          expect([p.linkType, p.interfaceId, p.recordOffset]).toEqual([1, 0, built.offsets[i]]);
        });
        expect((r.source as PcapReader).snapLength).toBe(65535);
        expect((r.source as PcapReader).nanosecond).toBe(nanosecond);
      });
    }
  }

  it('timestamps with the top bit set are unsigned (after 2038)', () => {
    const path = tmp.write(B.buildPcap([{ data: frames[0]!, tsSec: 0xfffffff0, tsFrac: 5 }], { bigEndian: true }).bytes);
    expect(readAll(path).packets[0]!.tsSec).toBe(0xfffffff0);
  });

  it('link type: the FCS bits in the upper half are ignored', () => {
    const path = tmp.write(B.buildPcap([{ data: frames[0]! }], { linkType: 0x1000_0000 | 0x0400_0000 | 113 }).bytes);
    expect(readAll(path).packets[0]!.linkType).toBe(113);
  });

  it('version 2.2: captured and original lengths are stored swapped and read back right', () => {
    const data = frames[1]!.subarray(0, 60);
    const built = B.buildPcap([{ data, origLen: frames[1]!.length }, { data: frames[0]! }], { versionMinor: 2 });
    // The writer really put the original length first.
    const dv = new DataView(built.bytes.buffer);
    expect([dv.getUint32(24 + 8, true), dv.getUint32(24 + 12, true)]).toEqual([frames[1]!.length, 60]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => [p.capturedLength, p.wireLength])).toEqual([
      [60, frames[1]!.length],
      [frames[0]!.length, frames[0]!.length],
    ]);
    expect(r.packets[0]!.data).toEqual(data);
  });

  it('version 2.3: swapped only when the captured length exceeds the original length', () => {
    const data = frames[1]!.subarray(0, 60);
    const built = B.buildPcap(
      [
        { data, inclField: 60, origField: 142 }, // normal order
        { data, inclField: 142, origField: 60 }, // swapped by an old writer
      ],
      { versionMinor: 3 },
    );
    // The second record's data is 60 bytes long; after swapping, the reader must take 60 bytes, not 142.
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => [p.capturedLength, p.wireLength])).toEqual([
      [60, 142],
      [60, 142],
    ]);
  });

  it('version 2.4: an original length below the captured length is raised to it', () => {
    const r = readAll(tmp.write(B.buildPcap([{ data: frames[0]!, origField: 10 }]).bytes));
    expect([r.packets[0]!.capturedLength, r.packets[0]!.wireLength]).toEqual([frames[0]!.length, frames[0]!.length]);
  });

  it('sub-second field of a second or more: clamped to the end of that second and counted', () => {
    const built = B.buildPcap([
      { data: frames[0]!, tsSec: 100, tsFrac: 1_000_000 },
      { data: frames[0]!, tsSec: 101, tsFrac: 0xffffffff },
      { data: frames[0]!, tsSec: 102, tsFrac: 999_999 },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.packets.map((p) => [p.tsSec, p.tsNsec])).toEqual([
      [100, 999_999_999],
      [101, 999_999_999],
      [102, 999_999_000],
    ]);
    expect((r.source as PcapReader).invalidTimestamps).toBe(2);
    const ns = readAll(tmp.write(B.buildPcap([{ data: frames[0]!, tsSec: 5, tsFrac: 1_000_000_000 }], { nanosecond: true }).bytes));
    expect([ns.packets[0]!.tsSec, ns.packets[0]!.tsNsec]).toEqual([5, 999_999_999]);
  });

  it('a record of exactly the limit is read; zero-length records are valid', () => {
    const big = B.pattern(MAX_RECORD_BYTES, 3);
    const r = readAll(tmp.write(B.buildPcap([{ data: big }, { data: [] }, { data: frames[0]! }]).bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => p.capturedLength)).toEqual([MAX_RECORD_BYTES, 0, frames[0]!.length]);
    expect(sameBytes(r.packets[0]!.data, big)).toBe('same');
  });

  it('a file larger than the read buffer: every record intact across refills', () => {
    // 4 MiB chunks: 3200 records of ~1.5 KB cross several refills at unaligned positions.
    const rng = new B.Rng(7);
    const records: B.PcapRecord[] = [];
    for (let i = 0; i < 3200; i++) {
      const len = 1000 + rng.int(600);
      const data = B.pattern(len, i);
      data[0] = i & 0xff;
      data[1] = i >> 8;
      records.push({ data, tsSec: 1000 + i, tsFrac: i });
    }
    const built = B.buildPcap(records);
    expect(built.bytes.length).toBeGreaterThan(4 << 20);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.length).toBe(records.length);
    for (let i = 0; i < records.length; i++) {
      const p = r.packets[i]!;
      const same = sameBytes(p.data, records[i]!.data);
      if (same !== 'same' || p.tsSec !== 1000 + i || p.tsNsec !== i * 1000 || p.recordOffset !== built.offsets[i]) {
        expect.fail(`record ${i} differs: ${same}, ts ${p.tsSec}.${p.tsNsec}, offset ${p.recordOffset}`);
      }
    }
  });

  it('records decode straight from the reader buffer', () => {
    const built = B.buildPcap(frames.map((data) => ({ data })));
    const opened = readAll(tmp.write(built.bytes));
    const pkt = new DecodedPacket();
    const results = opened.packets.map((p) => decodePacket(pkt, p.data, 0, p.capturedLength, p.wireLength, p.linkType));
    expect(results).toEqual([DecodeResult.flow, DecodeResult.flow, DecodeResult.noFlow]);
  });
});
