import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LiveCaptureError } from '../../src/capture/live/capture-errors.js';
import { NativeCapture, type NativeCaptureOptions } from '../../src/capture/live/native-capture.js';
import { NativeFrameInjector } from '../../src/capture/live/native-inject.js';
import { interfaceInfo, macBytes } from '../../src/capture/live/native-interface.js';
import { ETH, ethernet, ethIpv4Udp, pattern, type EthernetOptions } from '../support/packet-builder.js';
import { createVethPair, settle, waitFor, type VethPair } from '../support/veth-pair.js';

/**
 * Real capture over a veth pair between two namespaces: frames are injected on end a and captured on end b,
 * in every capture mode, and compared byte for byte.
 */

interface Captured {
  bytes: Uint8Array;
  capturedLength: number;
  wireLength: number;
  tsSec: number;
  tsNsec: number;
}

let pair: VethPair;
let injector: NativeFrameInjector;
let eth: EthernetOptions;

beforeAll(() => {
  pair = createVethPair();
  injector = new NativeFrameInjector({ iface: pair.a.iface, netns: pair.a.netns });
  eth = { src: macBytes(pair.a.mac), dst: macBytes(pair.b.mac) };
});

afterAll(() => {
  injector?.close();
  pair?.destroy();
});

function open(extra: Partial<NativeCaptureOptions> & Pick<NativeCaptureOptions, 'mode'>): NativeCapture {
  return new NativeCapture({
    iface: pair.b.iface,
    netns: pair.b.netns,
    filter: '',
    snapLength: 2048,
    bufferBytes: 8 << 20,
    promiscuous: true,
    ...extra,
  });
}

function collect(capture: NativeCapture): Captured[] {
  const out: Captured[] = [];
  capture.start((data, offset, capturedLength, wireLength, tsSec, tsNsec) => {
    out.push({ bytes: data.slice(offset, offset + capturedLength), capturedLength, wireLength, tsSec, tsNsec });
  });
  return out;
}

/** A UDP frame whose size and payload identify it. */
function udpFrame(index: number, size: number, dport = 7000): Uint8Array {
  const payloadLength = size - 14 - 20 - 8;
  const frame = ethIpv4Udp({ src: '198.18.200.1', dst: '198.18.200.2', id: index, sport: 40000 + index, dport, payload: pattern(payloadLength, index), eth });
  expect(frame.length).toBe(size);
  return frame;
}

const MODES: Array<{ name: string; options: Pick<NativeCaptureOptions, 'mode' | 'tpacketVersion' | 'blockBytes'> }> = [
  { name: 'pcap', options: { mode: 'pcap' } },
  { name: 'tpacket v2', options: { mode: 'tpacket', tpacketVersion: 2 } },
  // Small blocks, so the ring has many: with a 1 ms block timeout every partly filled block is handed over
  // after 1 ms, and a few blocks would fill up while the test itself keeps the event loop busy sending.
  { name: 'tpacket v3', options: { mode: 'tpacket', tpacketVersion: 3, blockBytes: 65536 } },
];

describe.each(MODES)('$name capture', ({ options }) => {
  test('receives exactly the frames sent, with their lengths and plausible timestamps', async () => {
    const capture = open(options);
    try {
      expect(capture.linkType).toBe(1);
      const got = collect(capture);
      const sizes = [60, 64, 100, 333, 512, 1000, 1400, 1514];
      const sent = Array.from({ length: 64 }, (_, i) => udpFrame(i, sizes[i % sizes.length]!));
      const before = Date.now();
      for (const frame of sent) expect(injector.send(frame, frame.length)).toBe(true);
      await waitFor(() => got.length >= sent.length, `${sent.length} frames`);
      await settle();
      const after = Date.now();
      expect(got.length).toBe(sent.length);
      let lastNs = 0n;
      for (let i = 0; i < sent.length; i++) {
        const g = got[i]!;
        expect(g.capturedLength).toBe(sent[i]!.length);
        expect(g.wireLength).toBe(sent[i]!.length);
        expect(Buffer.from(g.bytes).equals(Buffer.from(sent[i]!))).toBe(true);
        const ms = g.tsSec * 1000 + g.tsNsec / 1e6;
        expect(ms).toBeGreaterThanOrEqual(before - 1000);
        expect(ms).toBeLessThanOrEqual(after + 1000);
        expect(g.tsNsec).toBeLessThan(1e9);
        const ns = BigInt(g.tsSec) * 1_000_000_000n + BigInt(g.tsNsec);
        expect(ns >= lastNs).toBe(true);
        lastNs = ns;
      }
      const stats = capture.stats();
      expect(stats.received).toBe(sent.length);
      expect(stats.kernelDropped).toBe(0);
      expect(stats.interfaceDropped).toBe(0);
    } finally {
      capture.close();
    }
  });

  test('the ring wraps around many times without losing, repeating or reordering frames', async () => {
    // A ring of a few dozen slots (V2) or a few blocks (V3), and far more frames than that, sent in bursts
    // with the event loop running in between.
    const capture = open({ ...options, bufferBytes: 64 << 10, blockBytes: 16384, batchPackets: 7 });
    try {
      const got = collect(capture);
      const sent: Uint8Array[] = [];
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 10; i++) {
          const frame = udpFrame(sent.length, 100 + (sent.length % 50));
          sent.push(frame);
          injector.send(frame, frame.length);
        }
        await waitFor(() => got.length >= sent.length, `burst ${burst}`);
      }
      await settle();
      expect(got.length).toBe(sent.length);
      for (let i = 0; i < sent.length; i++) expect(Buffer.from(got[i]!.bytes).equals(Buffer.from(sent[i]!))).toBe(true);
      expect(capture.stats().kernelDropped).toBe(0);
    } finally {
      capture.close();
    }
    // 40 bursts, each waiting for its frames (with V3, for a block timeout too): a correctness test, so a generous
    // bound; a CI run with other tests loading both vCPUs once took longer than the default 5 s.
  }, 30_000);

  test('snap length truncates: capturedLength < wireLength, bytes are the frame prefix', async () => {
    const capture = open({ ...options, snapLength: 64 });
    try {
      const got = collect(capture);
      const frames = [udpFrame(1, 200), udpFrame(2, 1514), udpFrame(3, 60)];
      for (const f of frames) expect(injector.send(f, f.length)).toBe(true);
      await waitFor(() => got.length >= frames.length, 'truncated frames');
      await settle();
      expect(got.map((g) => [g.capturedLength, g.wireLength])).toEqual([
        [64, 200],
        [64, 1514],
        [60, 60],
      ]);
      for (let i = 0; i < frames.length; i++) {
        expect(Buffer.from(got[i]!.bytes).equals(Buffer.from(frames[i]!.subarray(0, got[i]!.capturedLength)))).toBe(true);
      }
    } finally {
      capture.close();
    }
  });

  test('the BPF filter applies', async () => {
    const capture = open({ ...options, filter: 'udp dst port 7001' });
    try {
      const got = collect(capture);
      const wanted: Uint8Array[] = [];
      for (let i = 0; i < 20; i++) {
        const f = udpFrame(i, 100 + i, i % 2 === 0 ? 7000 : 7001);
        if (i % 2 === 1) wanted.push(f);
        injector.send(f, f.length);
      }
      await waitFor(() => got.length >= wanted.length, 'filtered frames');
      await settle();
      expect(got.length).toBe(wanted.length);
      for (let i = 0; i < wanted.length; i++) expect(Buffer.from(got[i]!.bytes).equals(Buffer.from(wanted[i]!))).toBe(true);
    } finally {
      capture.close();
    }
  });

  test('802.1Q and 802.1ad tags, which the kernel strips on receive, are back in the frame', async () => {
    const capture = open(options);
    try {
      const got = collect(capture);
      const payload = ethIpv4Udp({ src: '198.18.200.1', dst: '198.18.200.2', sport: 1, dport: 2, payload: pattern(40) }).subarray(14);
      const frames = [
        ethernet(ETH.IPV4, payload, { ...eth, vlans: [{ vid: 5, pcp: 3 }] }),
        ethernet(ETH.IPV4, payload, { ...eth, vlans: [{ vid: 300, tpid: ETH.QINQ }, { vid: 7 }] }),
        ethernet(ETH.IPV4, payload, eth),
      ];
      for (const f of frames) expect(injector.send(f, f.length)).toBe(true);
      await waitFor(() => got.length >= frames.length, 'tagged frames');
      await settle();
      expect(got.length).toBe(frames.length);
      for (let i = 0; i < frames.length; i++) {
        expect(Buffer.from(got[i]!.bytes).toString('hex')).toBe(Buffer.from(frames[i]!).toString('hex'));
        expect(got[i]!.wireLength).toBe(frames[i]!.length);
      }
    } finally {
      capture.close();
    }
  });

  test('a "vlan" filter matches the tag the kernel stripped', async () => {
    const capture = open({ ...options, filter: 'vlan 5 and udp' });
    try {
      const got = collect(capture);
      const payload = ethIpv4Udp({ src: '198.18.200.1', dst: '198.18.200.2', sport: 1, dport: 2, payload: pattern(40) }).subarray(14);
      const tagged5 = ethernet(ETH.IPV4, payload, { ...eth, vlans: [5] });
      for (const f of [ethernet(ETH.IPV4, payload, { ...eth, vlans: [6] }), tagged5, ethernet(ETH.IPV4, payload, eth), tagged5]) {
        injector.send(f, f.length);
      }
      await waitFor(() => got.length >= 2, 'vlan 5 frames');
      await settle();
      expect(got.length).toBe(2);
      for (const g of got) expect(Buffer.from(g.bytes).equals(Buffer.from(tagged5))).toBe(true);
    } finally {
      capture.close();
    }
  });

  test('"any" delivers Linux cooked (SLL) frames and filters them', async () => {
    const capture = open({ ...options, iface: 'any', filter: 'udp dst port 7001' });
    try {
      expect(capture.linkType).toBe(113);
      const got = collect(capture);
      const f = udpFrame(9, 120, 7001);
      injector.send(udpFrame(8, 120, 7000), 120);
      injector.send(f, f.length);
      await waitFor(() => got.length >= 1, 'cooked frame');
      await settle();
      expect(got.length).toBe(1);
      const g = got[0]!;
      expect(g.capturedLength).toBe(16 + f.length - 14);
      expect(g.wireLength).toBe(16 + f.length - 14);
      const v = new DataView(g.bytes.buffer, g.bytes.byteOffset);
      expect(v.getUint16(0)).toBe(0); // PACKET_HOST: addressed to b's MAC
      expect(v.getUint16(2)).toBe(1); // ARPHRD_ETHER
      expect(v.getUint16(4)).toBe(6);
      expect(Buffer.from(g.bytes.subarray(6, 12)).equals(Buffer.from(macBytes(pair.a.mac)))).toBe(true);
      expect(v.getUint16(14)).toBe(ETH.IPV4);
      expect(Buffer.from(g.bytes.subarray(16)).equals(Buffer.from(f.subarray(14)))).toBe(true);
    } finally {
      capture.close();
    }
  });

  test('ignoreOutgoing drops what this host sends on the interface, and only that', async () => {
    // Capture on a, where the injector sends: its frames are outgoing there.
    const both = open({ ...options, iface: pair.a.iface, netns: pair.a.netns });
    const inbound = open({ ...options, iface: pair.a.iface, netns: pair.a.netns, ignoreOutgoing: true });
    const fromB = new NativeFrameInjector({ iface: pair.b.iface, netns: pair.b.netns });
    try {
      const gotBoth = collect(both);
      const gotIn = collect(inbound);
      const out = udpFrame(1, 100);
      const back = ethIpv4Udp({ src: '198.18.200.2', dst: '198.18.200.1', sport: 7, dport: 7, payload: pattern(50), eth: { src: eth.dst!, dst: eth.src! } });
      injector.send(out, out.length);
      fromB.send(back, back.length);
      await waitFor(() => gotBoth.length >= 2 && gotIn.length >= 1, 'frames in both directions');
      await settle();
      expect(gotBoth.length).toBe(2);
      expect(gotIn.length).toBe(1);
      expect(Buffer.from(gotIn[0]!.bytes).equals(Buffer.from(back))).toBe(true);
    } finally {
      fromB.close();
      both.close();
      inbound.close();
    }
  });

  test('"any" filters on the cooked header: packet type and link-layer address bytes', async () => {
    // "inbound" reads the packet type (the kernel runs it as an ancillary load); link[6:2] reads the first bytes
    // of the source address, which the kernel cannot provide, so tpacket mode runs that filter in user space.
    const a = macBytes(pair.a.mac);
    const addr = (a[0]! << 8) | a[1]!;
    const inbound = open({ ...options, iface: 'any', filter: 'inbound and udp dst port 7002' });
    const byAddress = open({ ...options, iface: 'any', filter: `link[6:2] == ${addr} and udp dst port 7002` });
    const other = open({ ...options, iface: 'any', filter: `link[6:2] == ${(addr + 1) & 0xffff} and udp dst port 7002` });
    try {
      const g1 = collect(inbound);
      const g2 = collect(byAddress);
      const g3 = collect(other);
      const f = udpFrame(3, 90, 7002);
      injector.send(f, f.length);
      await waitFor(() => g1.length >= 1 && g2.length >= 1, 'the frame on both captures');
      await settle();
      expect([g1.length, g2.length, g3.length]).toEqual([1, 1, 0]);
      expect(Buffer.from(g2[0]!.bytes.subarray(16)).equals(Buffer.from(f.subarray(14)))).toBe(true);
    } finally {
      inbound.close();
      byAddress.close();
      other.close();
    }
  });

  test('an interface that goes down is reported, and capture resumes when it is back up', async () => {
    const errors: Array<[string, boolean]> = [];
    const capture = open({ ...options, onError: (e, fatal) => errors.push([e.problem, fatal]) });
    try {
      const got = collect(capture);
      execFileSync('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.iface, 'down']);
      await waitFor(() => errors.length >= 1, 'the interface_down report');
      expect(errors[0]).toEqual(['interface_down', false]);
      execFileSync('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.iface, 'up']);
      await waitFor(() => interfaceInfo(pair.b.iface, { netns: pair.b.netns }).running, 'carrier');
      const f = udpFrame(5, 90);
      await waitFor(() => {
        injector.send(f, f.length);
        return got.length >= 1;
      }, 'a frame after the interface came back');
      expect(Buffer.from(got[0]!.bytes).equals(Buffer.from(f))).toBe(true);
    } finally {
      capture.close();
      execFileSync('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.iface, 'up']);
    }
  });

  test('errors are typed: bad filter, missing interface, interface down', () => {
    const problem = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(LiveCaptureError);
        return (err as LiveCaptureError).problem;
      }
      return 'no error';
    };
    expect(problem(() => open({ ...options, filter: 'udp port' }).close())).toBe('bad_filter');
    expect(problem(() => open({ ...options, filter: 'tcp and nonsense_keyword' }).close())).toBe('bad_filter');
    expect(problem(() => open({ ...options, iface: 'offp-missing0' }).close())).toBe('no_such_interface');
    expect(problem(() => open({ ...options, iface: 'bad/name' }).close())).toBe('no_such_interface');
    execFileSync('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.iface, 'down']);
    try {
      expect(problem(() => open(options).close())).toBe('interface_down');
    } finally {
      execFileSync('ip', ['-n', pair.b.ns, 'link', 'set', pair.b.iface, 'up']);
    }
  });

  test('close() is idempotent and safe from inside the handler', async () => {
    const capture = open(options);
    let calls = 0;
    capture.start(() => {
      calls++;
      capture.close();
    });
    for (let i = 0; i < 10; i++) injector.send(udpFrame(i, 80), 80);
    await waitFor(() => calls >= 1, 'the first packet');
    await settle(50);
    expect(calls).toBe(1);
    capture.close();
    expect(capture.stats().received).toBeGreaterThanOrEqual(1);
  });
});

test('interfaceInfo reads index, MAC, MTU and state inside a namespace', () => {
  const info = interfaceInfo(pair.b.iface, { netns: pair.b.netns });
  expect(info.mac).toBe(pair.b.mac);
  expect(info.mtu).toBe(1500);
  expect(info.up).toBe(true);
  expect(info.arpType).toBe(1);
  expect(info.linkType).toBe(1);
  expect(info.ifindex).toBeGreaterThan(0);
  expect(() => interfaceInfo('offp-missing0')).toThrow(LiveCaptureError);
  expect(() => interfaceInfo(pair.b.iface)).toThrow(/no such device|SIOCGIFINDEX/i);
});

test('bad options are refused before anything is opened', () => {
  expect(() => open({ mode: 'tpacket', blockBytes: 5000 })).toThrow(/power of two/);
  expect(() => open({ mode: 'pcap', fanoutGroup: 3 })).toThrow(/tpacket/);
  expect(() => open({ mode: 'tpacket', snapLength: 0 })).toThrow(/snapLength/);
});
