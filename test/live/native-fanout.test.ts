import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NativeCapture } from '../../src/capture/live/native-capture.js';
import { NativeFrameInjector } from '../../src/capture/live/native-inject.js';
import { macBytes } from '../../src/capture/live/native-interface.js';
import { ethIpv4Udp, u16 } from '../support/packet-builder.js';
import { createVethPair, settle, waitFor, type VethPair } from '../support/veth-pair.js';

/**
 * PACKET_FANOUT: sockets in one group share the interface's traffic, split by flow hash. Together they must see
 * every packet exactly once, and all packets of one flow must land on the same socket.
 */

let pair: VethPair;
let injector: NativeFrameInjector;

beforeAll(() => {
  pair = createVethPair();
  injector = new NativeFrameInjector({ iface: pair.a.iface, netns: pair.a.netns });
});

afterAll(() => {
  injector?.close();
  pair?.destroy();
});

const FLOWS = 64;
const PER_FLOW = 8;

/** Packet (flow, seq): UDP source port 20000 + flow; the payload starts with flow and seq. */
function flowPacket(flow: number, seq: number, eth: { src: Uint8Array; dst: Uint8Array }): Uint8Array {
  return ethIpv4Udp({ src: '198.18.202.1', dst: '198.18.202.2', sport: 20000 + flow, dport: 6000, payload: [...u16(flow), ...u16(seq), 0, 0], eth });
}

describe.each([2, 3] as const)('tpacket v%i fanout group', (version) => {
  test('two sockets together take every packet once, split by flow', async () => {
    const group = (process.pid * 3 + version) & 0xffff;
    const open = (): NativeCapture =>
      new NativeCapture({
        mode: 'tpacket',
        tpacketVersion: version,
        blockBytes: 65536,
        fanoutGroup: group,
        iface: pair.b.iface,
        netns: pair.b.netns,
        filter: 'udp dst port 6000',
        snapLength: 256,
        bufferBytes: 4 << 20,
        promiscuous: true,
      });
    const sockets = [open(), open()];
    const seen: Array<Array<[number, number]>> = [[], []];
    sockets.forEach((s, i) =>
      s.start((data, offset) => {
        const p = offset + 42;
        seen[i]!.push([(data[p]! << 8) | data[p + 1]!, (data[p + 2]! << 8) | data[p + 3]!]);
      }),
    );
    try {
      const eth = { src: macBytes(pair.a.mac), dst: macBytes(pair.b.mac) };
      for (let seq = 0; seq < PER_FLOW; seq++) {
        for (let flow = 0; flow < FLOWS; flow++) {
          const f = flowPacket(flow, seq, eth);
          expect(injector.send(f, f.length)).toBe(true);
        }
        await settle(5);
      }
      const total = FLOWS * PER_FLOW;
      await waitFor(() => seen[0]!.length + seen[1]!.length >= total, `${total} packets across the group`);
      await settle();
      expect(seen[0]!.length + seen[1]!.length).toBe(total);

      const owner = new Map<number, number>();
      const once = new Set<string>();
      seen.forEach((list, socket) => {
        for (const [flow, seq] of list) {
          const key = `${flow}/${seq}`;
          expect(once.has(key)).toBe(false);
          once.add(key);
          if (!owner.has(flow)) owner.set(flow, socket);
          expect(owner.get(flow)).toBe(socket); // a flow never spans both sockets
        }
      });
      expect(once.size).toBe(total);
      // Both sockets got a share (with 64 flows hashed over 2 sockets, one taking all has odds of 2^-63).
      expect(seen[0]!.length).toBeGreaterThan(0);
      expect(seen[1]!.length).toBeGreaterThan(0);
      // Per socket, each flow's packets arrive in order.
      for (const list of seen) {
        const last = new Map<number, number>();
        for (const [flow, seq] of list) {
          expect(seq).toBe((last.get(flow) ?? -1) + 1);
          last.set(flow, seq);
        }
      }
    } finally {
      for (const s of sockets) s.close();
    }
  });
});

test('joining a fanout group with different settings is a clear error', () => {
  const group = (process.pid * 3 + 9) & 0xffff;
  const base = {
    iface: pair.b.iface,
    netns: pair.b.netns,
    filter: '',
    snapLength: 256,
    bufferBytes: 1 << 20,
    promiscuous: true,
    mode: 'tpacket' as const,
    fanoutGroup: group,
  };
  const first = new NativeCapture(base);
  try {
    expect(() => new NativeCapture({ ...base, iface: 'lo' })).toThrow(/PACKET_FANOUT.*group/);
  } finally {
    first.close();
  }
});
