import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LiveCaptureError } from '../../src/capture/live/capture-errors.js';
import { NativeCapture } from '../../src/capture/live/native-capture.js';
import { ipPacketProblem, NativeFrameInjector, NativeRawIpInjector } from '../../src/capture/live/native-inject.js';
import { macBytes } from '../../src/capture/live/native-interface.js';
import {
  bytes,
  ethIpv4Udp,
  internetChecksum,
  icmp,
  icmpEcho,
  ipv4,
  ipv6,
  ipv6Bytes,
  pattern,
  PROTO,
  u16,
  u32,
} from '../support/packet-builder.js';
import { createVethPair, settle, waitFor, type VethPair } from '../support/veth-pair.js';

/** Injection over a veth pair between two namespaces, checked by capturing on the other end. */

interface Captured {
  bytes: Uint8Array;
  wireLength: number;
}

let pair: VethPair;

beforeAll(() => {
  pair = createVethPair({ ipv4: true, ipv6: true });
});

afterAll(() => {
  pair?.destroy();
});

function captureOnB(filter: string): { capture: NativeCapture; got: Captured[] } {
  const capture = new NativeCapture({
    mode: 'tpacket',
    tpacketVersion: 2,
    iface: pair.b.iface,
    netns: pair.b.netns,
    filter,
    snapLength: 4096,
    bufferBytes: 8 << 20,
    promiscuous: true,
  });
  const got: Captured[] = [];
  capture.start((data, offset, capturedLength, wireLength) => {
    got.push({ bytes: data.slice(offset, offset + capturedLength), wireLength });
  });
  return { capture, got };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('layer 2 (AF_PACKET)', () => {
  test('sendBatch puts N frames on the wire intact, in one call', async () => {
    const injector = new NativeFrameInjector({ iface: pair.a.iface, netns: pair.a.netns });
    const { capture, got } = captureOnB('udp dst port 5555');
    try {
      const eth = { src: macBytes(pair.a.mac), dst: macBytes(pair.b.mac) };
      const count = 1500; // more than one sendmmsg (1024 messages) worth
      const frames: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        frames.push(ethIpv4Udp({ src: '198.18.201.1', dst: '198.18.201.2', id: i, sport: 1000 + (i % 50), dport: 5555, payload: pattern(18 + ((i * 37) % 1400), i), eth }));
      }
      const total = frames.reduce((n, f) => n + f.length, 0);
      const buffer = new Uint8Array(total + 64);
      const offsets = new Uint32Array(count);
      const lengths = new Uint32Array(count);
      let at = 7; // frames need not be aligned
      frames.forEach((f, i) => {
        buffer.set(f, at);
        offsets[i] = at;
        lengths[i] = f.length;
        at += f.length;
      });
      expect(injector.sendBatch(buffer, offsets, lengths, count)).toBe(count);
      expect(injector.counters()).toEqual({ sent: count, refused: 0, lastError: null });
      await waitFor(() => got.length >= count, `${count} frames`);
      await settle();
      expect(got.length).toBe(count);
      for (let i = 0; i < count; i++) {
        expect(got[i]!.wireLength).toBe(frames[i]!.length);
        expect(hex(got[i]!.bytes)).toBe(hex(frames[i]!));
      }
    } finally {
      capture.close();
      injector.close();
    }
  });

  test('frames the kernel refuses are counted, and the rest of the batch still goes out', async () => {
    const injector = new NativeFrameInjector({ iface: pair.a.iface, netns: pair.a.netns });
    const { capture, got } = captureOnB('udp dst port 5556');
    try {
      const eth = { src: macBytes(pair.a.mac), dst: macBytes(pair.b.mac) };
      const good = ethIpv4Udp({ src: '198.18.201.1', dst: '198.18.201.2', sport: 1, dport: 5556, payload: pattern(30), eth });
      const tooLong = ethIpv4Udp({ src: '198.18.201.1', dst: '198.18.201.2', sport: 1, dport: 5556, payload: pattern(3000), eth });
      expect(injector.send(tooLong, tooLong.length)).toBe(false);
      expect(injector.counters().lastError).toMatch(/EMSGSIZE|too long/i);
      expect(injector.send(good, 10)).toBe(false); // shorter than an Ethernet header
      const buffer = bytes(good, tooLong, good);
      const offsets = Uint32Array.of(0, good.length, good.length + tooLong.length);
      const lengths = Uint32Array.of(good.length, tooLong.length, good.length);
      expect(injector.sendBatch(buffer, offsets, lengths, 3)).toBe(2);
      expect(injector.counters()).toMatchObject({ sent: 2, refused: 3 });
      await waitFor(() => got.length >= 2, 'the two good frames');
      await settle();
      expect(got.length).toBe(2);
      expect(() => injector.sendBatch(buffer, Uint32Array.of(buffer.length - 4), Uint32Array.of(10), 1)).toThrow(RangeError);
      expect(() => injector.sendBatch(buffer, offsets, lengths, 4)).toThrow(RangeError);
      expect(() => injector.send(good, good.length + 1)).toThrow(RangeError);
    } finally {
      capture.close();
      injector.close();
    }
    expect(injector.send(bytes(pattern(60)), 60)).toBe(false); // closed: refused, not a crash
  });

  test('opening on a missing interface is a typed error', () => {
    expect(() => new NativeFrameInjector({ iface: 'offp-missing0', netns: pair.a.netns })).toThrow(LiveCaptureError);
    try {
      new NativeFrameInjector({ iface: 'offp-missing0' });
    } catch (err) {
      expect((err as LiveCaptureError).problem).toBe('no_such_interface');
    }
  });
});

describe('layer 3 (raw IP sockets through the routing table)', () => {
  test('an IPv4 packet reaches the peer namespace, which answers it', async () => {
    const injector = new NativeRawIpInjector({ netns: pair.a.netns });
    const { capture, got } = captureOnB('icmp');
    try {
      const packet = ipv4({ src: pair.a.ipv4!, dst: pair.b.ipv4!, proto: PROTO.ICMP, id: 0x4242, df: true }, icmpEcho(8, 0x77, 1, pattern(56)));
      expect(injector.sendIp(packet, 0, packet.length)).toBe(true);
      // The request arrives on b (through ARP and routing), and b's stack sends the echo reply back.
      await waitFor(() => got.length >= 2, 'echo request and reply');
      const request = got[0]!.bytes;
      expect(hex(request.subarray(0, 6))).toBe(hex(macBytes(pair.b.mac)));
      expect(hex(request.subarray(6, 12))).toBe(hex(macBytes(pair.a.mac)));
      expect(hex(request.subarray(14))).toBe(hex(packet));
      const reply = got[1]!.bytes;
      expect(reply[14 + 20]).toBe(0); // echo reply
      expect(hex(reply.subarray(14 + 12, 14 + 16))).toBe(hex(packet.subarray(16, 20)));
      expect(injector.counters()).toMatchObject({ sent: 1, refused: 0 });
    } finally {
      capture.close();
      injector.close();
    }
  });

  test('an IPv6 packet (header included) reaches the peer namespace, which answers it', async () => {
    const injector = new NativeRawIpInjector({ netns: pair.a.netns });
    const { capture, got } = captureOnB('icmp6 and (ip6[40] == 128 or ip6[40] == 129)');
    try {
      const src = pair.a.ipv6!;
      const dst = pair.b.ipv6!;
      const body = icmpEcho(128, 0x99, 1, pattern(32));
      body[2] = 0;
      body[3] = 0;
      const pseudo = bytes(ipv6Bytes(src), ipv6Bytes(dst), u32(body.length), [0, 0, 0, PROTO.ICMPV6], body);
      const ck = internetChecksum(pseudo);
      body[2] = ck >>> 8;
      body[3] = ck & 0xff;
      const packet = ipv6({ src, dst, next: PROTO.ICMPV6, hopLimit: 64, flowLabel: 0xabcde }, body);
      expect(injector.sendIp(packet, 0, packet.length)).toBe(true);
      await waitFor(() => got.length >= 2, 'echo request and reply');
      const request = got[0]!.bytes;
      expect(hex(request.subarray(14))).toBe(hex(packet)); // flow label and hop limit as given: the header was ours
      expect(got[1]!.bytes[14 + 40]).toBe(129);
    } finally {
      capture.close();
      injector.close();
    }
  });

  test('bytes that are not an IP packet are refused and counted, never sent', () => {
    const injector = new NativeRawIpInjector({ netns: pair.a.netns });
    try {
      const good = ipv4({ src: pair.a.ipv4!, dst: pair.b.ipv4!, proto: PROTO.UDP }, bytes(u16(1), u16(2), u16(8), u16(0)));
      const v5 = Uint8Array.from(good);
      v5[0] = 0x55;
      expect(injector.sendIp(v5, 0, v5.length)).toBe(false);
      expect(injector.sendIp(good, 0, 19)).toBe(false);
      expect(injector.sendIp(good, 4, good.length)).toBe(false);
      expect(injector.sendIp(new Uint8Array(0), 0, 0)).toBe(false);
      const c = injector.counters();
      expect(c.sent).toBe(0);
      expect(c.refused).toBe(4);
      expect(c.lastError).toMatch(/outside|malformed|length|empty/);
      const unroutable = ipv4({ src: pair.a.ipv4!, dst: '198.19.250.1', proto: PROTO.UDP }, bytes(u16(1), u16(2), u16(8), u16(0)));
      expect(injector.sendIp(unroutable, 0, unroutable.length)).toBe(false);
      expect(injector.counters().lastError).toMatch(/ENETUNREACH|unreachable/i);
    } finally {
      injector.close();
    }
  });

  test('ipPacketProblem checks the version, header and length fields (fuzzed)', () => {
    const good4 = ipv4({ src: '198.18.0.1', dst: '198.18.0.2', proto: PROTO.UDP }, pattern(12));
    const good6 = ipv6({ src: '2001:2::1', dst: '2001:2::2', next: PROTO.UDP }, pattern(12));
    expect(ipPacketProblem(good4, 0, good4.length)).toBeNull();
    expect(ipPacketProblem(good6, 0, good6.length)).toBeNull();
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 8;
    };
    for (let i = 0; i < 5000; i++) {
      const buf = Uint8Array.from({ length: rand() % 80 }, () => rand() & 0xff);
      const offset = rand() % 90;
      const length = rand() % 90;
      const problem = ipPacketProblem(buf, offset, length);
      if (problem === null) {
        expect(offset + length).toBeLessThanOrEqual(buf.length);
        expect([4, 6]).toContain(buf[offset]! >> 4);
      }
    }
    expect(icmp(8, 0).length).toBe(4);
  });

  test('binding to a missing device is a typed error', () => {
    try {
      new NativeRawIpInjector({ netns: pair.a.netns, device: 'offp-missing0' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LiveCaptureError);
      expect((err as LiveCaptureError).problem).toBe('no_such_interface');
    }
  });
});
