import { afterAll, describe, expect, it } from 'vitest';
import { PcapngReader } from '../../src/capture/file/pcapng-reader.js';
import { LinkType } from '../../src/capture/link-type.js';
import * as B from '../support/packet-builder.js';
import { readAll, sameBytes } from './capture-helpers.js';

const tmp = new B.TempDir();
afterAll(() => tmp.remove());

const ethFrame = B.ethIpv4Tcp({ tcp: { sport: 1, dport: 2 }, payload: B.pattern(33) }); // odd length: padding
const rawIp = B.ipv4({ proto: B.PROTO.UDP }, B.udp({ sport: 3, dport: 4 }, B.pattern(10)));
const sllFrame = B.sll(B.ETH.IPV4, rawIp);

/** Three interfaces: Ethernet in µs, raw IP in ns, Linux SLL in 2^-10 s with an offset of 1000 s. */
function threeInterfaces(bigEndian: boolean): B.NgBlock[] {
  return [
    { type: 'shb', bigEndian, options: [{ code: 4, value: new TextEncoder().encode('offpath tests') }] },
    { type: 'idb', linkType: LinkType.ETHERNET, snapLength: 262144, tsresol: 6, options: [{ code: 2, value: new TextEncoder().encode('eth0') }] },
    { type: 'idb', linkType: LinkType.RAW, tsresol: 9 },
    { type: 'idb', linkType: LinkType.LINUX_SLL, tsresol: 0x80 | 10, tsoffset: 1000 },
    { type: 'epb', iface: 0, ticks: 1_700_000_000_123_456n, data: ethFrame },
    { type: 'epb', iface: 1, ticks: 1_700_000_001_987_654_321n, data: rawIp, origLen: rawIp.length + 100 },
    { type: 'epb', iface: 2, ticks: 1_700_000_002n * 1024n + 512n, data: sllFrame },
    { type: 'epb', iface: 2, ticks: 1_700_000_003n * 1024n + 1023n, data: sllFrame, options: [{ code: 1, value: new TextEncoder().encode('a comment') }] },
    { type: 'epb', iface: 0, ticks: 5n, data: ethFrame },
  ];
}

describe('pcapng', () => {
  for (const bigEndian of [false, true]) {
    it(`${bigEndian ? 'big' : 'little'}-endian: interfaces with their own link types, resolutions and offsets`, () => {
      const built = B.buildPcapng(threeInterfaces(bigEndian));
      const r = readAll(tmp.write(built.bytes));
      expect(r.error).toBeUndefined();
      expect(r.format).toBe('pcapng');
      expect(r.packets.map((p) => [p.interfaceId, p.linkType, p.tsSec, p.tsNsec, p.capturedLength, p.wireLength])).toEqual([
        [0, LinkType.ETHERNET, 1_700_000_000, 123_456_000, ethFrame.length, ethFrame.length],
        [1, LinkType.RAW, 1_700_000_001, 987_654_321, rawIp.length, rawIp.length + 100],
        [2, LinkType.LINUX_SLL, 1_700_001_002, 500_000_000, sllFrame.length, sllFrame.length],
        [2, LinkType.LINUX_SLL, 1_700_001_003, 999_023_437, sllFrame.length, sllFrame.length],
        [0, LinkType.ETHERNET, 0, 5000, ethFrame.length, ethFrame.length],
      ]);
      expect(r.packets.map((p) => p.recordOffset)).toEqual(built.offsets.slice(4));
      expect(r.packets[0]!.data).toEqual(ethFrame);
      expect(r.packets[1]!.data).toEqual(rawIp);
      expect(r.packets[2]!.data).toEqual(sllFrame);
      expect((r.source as PcapngReader).interfaces.map((i) => i.linkType)).toEqual([1, 101, 113]);
    });
  }

  it('default resolution is microseconds; other powers of ten and two; negative offset', () => {
    const built = B.buildPcapng([
      { type: 'shb' },
      { type: 'idb', linkType: 1 },
      { type: 'idb', linkType: 1, tsresol: 3 },
      { type: 'idb', linkType: 1, tsresol: 0x80 | 20 },
      { type: 'idb', linkType: 1, tsresol: 9, tsoffset: -100 },
      { type: 'idb', linkType: 1, tsresol: 0 },
      { type: 'epb', iface: 0, ticks: 2_000_001n, data: ethFrame },
      { type: 'epb', iface: 1, ticks: 3_007n, data: ethFrame },
      { type: 'epb', iface: 2, ticks: 3n * 1048576n + 524288n + 1n, data: ethFrame },
      { type: 'epb', iface: 3, ticks: 1_000_000_000_000_000_042n, data: ethFrame },
      { type: 'epb', iface: 4, ticks: 1234n, data: ethFrame },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => [p.tsSec, p.tsNsec])).toEqual([
      [2, 1000],
      [3, 7_000_000],
      [3, 500_000_953], // floor((524288 + 1) · 1e9 / 2^20)
      [1_000_000_000 - 100, 42],
      [1234, 0],
    ]);
  });

  it('64-bit timestamps keep nanosecond precision far beyond 2^53', () => {
    const ticks = 0xffff_ffff_ffff_fffen; // ns since the epoch: year 2554
    const built = B.buildPcapng([{ type: 'shb' }, { type: 'idb', linkType: 1, tsresol: 9 }, { type: 'epb', iface: 0, ticks, data: ethFrame }]);
    const p = readAll(tmp.write(built.bytes)).packets[0]!;
    expect(BigInt(p.tsSec) * 1_000_000_000n + BigInt(p.tsNsec)).toBe(ticks);
  });

  it('timestamps below and above 2^53 ticks agree with exact integer division, for decimal and binary resolutions', () => {
    // The reader divides ticks below 2^53 as one double (one division and a rounding correction) and larger ones
    // in 16-bit steps: both must give what BigInt division gives, at every tick count near a second's boundary.
    let seed = 7;
    const next = (): bigint => BigInt((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0));
    const resolutions: [number, bigint][] = [[6, 1_000_000n], [9, 1_000_000_000n], [3, 1000n], [0x80 | 20, 1n << 20n], [7, 10_000_000n]];
    for (const [tsresol, perSecond] of resolutions) {
      const ticks: bigint[] = [];
      for (let i = 0; i < 60; i++) {
        const hi = i < 40 ? next() % 0x200000n : 0x200000n + (next() % 0x1000000n); // two thirds below 2^53, a third above
        const t = (hi << 32n) | next();
        ticks.push(t, (t / perSecond) * perSecond, (t / perSecond) * perSecond - 1n); // and on either side of a second
      }
      const blocks: B.NgBlock[] = [{ type: 'shb' }, { type: 'idb', linkType: 1, tsresol }];
      for (const t of ticks) blocks.push({ type: 'epb', iface: 0, ticks: t, data: ethFrame });
      const packets = readAll(tmp.write(B.buildPcapng(blocks).bytes)).packets;
      const actual = packets.map((p) => [BigInt(p.tsSec), BigInt(p.tsNsec)]);
      const expected = ticks.map((t) => [t / perSecond, ((t % perSecond) * 1_000_000_000n) / perSecond]);
      expect(actual, `tsresol ${tsresol}`).toEqual(expected);
    }
  });

  it('resolutions finer than 2^-32 s keep nanosecond precision too', () => {
    const cases: [number, bigint, number, number][] = [
      [10, 17_000_000_001_234_567_891n, 1_700_000_000, 123_456_789], // 10^-10 s
      [0x80 | 33, (1_700_000_000n << 33n) + (1n << 32n) + 12345n, 1_700_000_000, 500_001_437], // 2^-33 s: 0.5 s + 12345 ticks
    ];
    const actual = cases.map(([tsresol, ticks]) => {
      const built = B.buildPcapng([{ type: 'shb' }, { type: 'idb', linkType: 1, tsresol }, { type: 'epb', iface: 0, ticks, data: ethFrame }]);
      const p = readAll(tmp.write(built.bytes)).packets[0]!;
      return [tsresol, p.tsSec, p.tsNsec];
    });
    expect(actual).toEqual(cases.map(([tsresol, , sec, nsec]) => [tsresol, sec, nsec]));
  });

  it('simple packet blocks use interface 0, its snap length, and the previous timestamp', () => {
    const built = B.buildPcapng([
      { type: 'shb', bigEndian: true },
      { type: 'idb', linkType: 1, snapLength: 40 },
      { type: 'epb', iface: 0, ticks: 7_000_000n, data: ethFrame.subarray(0, 30), origLen: ethFrame.length },
      { type: 'spb', data: ethFrame.subarray(0, 40), origLen: ethFrame.length },
      { type: 'spb', data: ethFrame.subarray(0, 21) },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => [p.capturedLength, p.wireLength, p.tsSec, p.interfaceId])).toEqual([
      [30, ethFrame.length, 7, 0],
      [40, ethFrame.length, 7, 0],
      [21, 21, 7, 0],
    ]);
    expect(r.packets[1]!.data).toEqual(ethFrame.subarray(0, 40));
  });

  it('simple packet block: the captured length is bounded by the block, whatever the snap length', () => {
    const built = B.buildPcapng([{ type: 'shb' }, { type: 'idb', linkType: 1 }, { type: 'spb', data: ethFrame.subarray(0, 20), origLen: 1500 }]);
    const p = readAll(tmp.write(built.bytes)).packets[0]!;
    expect([p.capturedLength, p.wireLength]).toEqual([20, 1500]);
  });

  it('obsolete packet blocks are read', () => {
    const built = B.buildPcapng([
      { type: 'shb' },
      { type: 'idb', linkType: 101 },
      { type: 'idb', linkType: 1, tsresol: 9 },
      { type: 'pb', iface: 1, ticks: 3_000_000_005n, data: ethFrame },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.packets.map((p) => [p.interfaceId, p.linkType, p.tsSec, p.tsNsec])).toEqual([[1, 1, 3, 5]]);
    expect(r.packets[0]!.data).toEqual(ethFrame);
  });

  it('unknown and non-packet blocks are skipped by length', () => {
    const built = B.buildPcapng([
      { type: 'shb' },
      { type: 'raw', blockType: 4, body: B.bytes(B.u16le(1), B.u16le(8), [10, 0, 0, 1], new TextEncoder().encode('host'), B.zeros(4)) }, // NRB
      { type: 'idb', linkType: 1 },
      { type: 'raw', blockType: 0x0bad, body: B.pattern(40) }, // custom
      { type: 'epb', iface: 0, ticks: 1n, data: ethFrame },
      { type: 'raw', blockType: 5, body: B.zeros(20) }, // ISB
      { type: 'raw', blockType: 0x0a, body: B.pattern(16) }, // DSB
      { type: 'raw', blockType: 0x12345678, body: [] },
      { type: 'epb', iface: 0, ticks: 2n, data: ethFrame },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => p.recordOffset)).toEqual([built.offsets[4], built.offsets[8]]);
  });

  it('several sections, each with its own byte order and interface numbering', () => {
    const built = B.buildPcapng([
      { type: 'shb' },
      { type: 'idb', linkType: 1 },
      { type: 'idb', linkType: 101, tsresol: 9 },
      { type: 'epb', iface: 1, ticks: 1_000_000_000n, data: rawIp },
      { type: 'shb', bigEndian: true },
      { type: 'idb', linkType: 113, tsresol: 3 },
      { type: 'epb', iface: 0, ticks: 2500n, data: sllFrame },
      { type: 'shb' },
      { type: 'idb', linkType: 101 },
      { type: 'epb', iface: 0, ticks: 3_000_000n, data: rawIp },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.map((p) => [p.interfaceId, p.linkType, p.tsSec, p.tsNsec])).toEqual([
      [1, 101, 1, 0],
      [0, 113, 2, 500_000_000],
      [0, 101, 3, 0],
    ]);
    expect(r.packets[1]!.data).toEqual(sllFrame);
    expect((r.source as PcapngReader).interfaces.length).toBe(4);
  });

  it('an interface of an earlier section is not visible in the next one', () => {
    const built = B.buildPcapng([
      { type: 'shb' },
      { type: 'idb', linkType: 1 },
      { type: 'idb', linkType: 1 },
      { type: 'epb', iface: 1, ticks: 1n, data: ethFrame },
      { type: 'shb' },
      { type: 'idb', linkType: 1 },
      { type: 'epb', iface: 1, ticks: 1n, data: ethFrame },
    ]);
    const r = readAll(tmp.write(built.bytes));
    expect(r.packets.length).toBe(1);
    expect((r.error as { offset: number }).offset).toBe(built.offsets[6]);
  });

  it('large blocks across buffer refills', () => {
    const rng = new B.Rng(3);
    const blocks: B.NgBlock[] = [{ type: 'shb' }, { type: 'idb', linkType: 1, tsresol: 9 }];
    const datas: Uint8Array[] = [];
    for (let i = 0; i < 120; i++) {
      const d = B.pattern(20_000 + rng.int(60_000), i);
      datas.push(d);
      blocks.push({ type: 'epb', iface: 0, ticks: BigInt(i), data: d });
    }
    const built = B.buildPcapng(blocks);
    expect(built.bytes.length).toBeGreaterThan(4 << 20);
    const r = readAll(tmp.write(built.bytes));
    expect(r.error).toBeUndefined();
    expect(r.packets.length).toBe(120);
    r.packets.forEach((p, i) => {
      const same = sameBytes(p.data, datas[i]!);
      if (same !== 'same' || p.tsNsec !== i) expect.fail(`block ${i}: ${same}`);
    });
  });
});
