import { describe, expect, test } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import type { FrameInjector, IpPacketInjector } from '../../src/capture/live/live-capture.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import { InjectionPath, type SideAddressing } from '../../src/respond/injection/injection-path.js';
import * as B from '../support/packet-builder.js';

const OWN = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc];
const ROUTER = [0x02, 0x00, 0x00, 0x11, 0x22, 0x33];

/** Collects what would go on the wire (a recording injector; the real ones are tested in test/live). */
class Recorder implements FrameInjector, IpPacketInjector {
  readonly name = 'recorder';
  frames: Uint8Array[] = [];
  packets: Uint8Array[] = [];
  batches = 0;
  sendBatch?: (buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number) => number;
  constructor(batching: boolean) {
    if (batching) {
      this.sendBatch = (buffer, offsets, lengths, count) => {
        this.batches++;
        for (let i = 0; i < count; i++) this.frames.push(buffer.slice(offsets[i]!, offsets[i]! + lengths[i]!));
        return count;
      };
    }
  }
  send(frame: Uint8Array, length: number): boolean {
    this.frames.push(frame.slice(0, length));
    return true;
  }
  sendIp(packet: Uint8Array, offset: number, length: number): boolean {
    this.packets.push(packet.slice(offset, offset + length));
    return true;
  }
  close(): void {}
}

function rst(vlans: (number | B.VlanTag)[] = [], zeroMacs = false): Uint8Array {
  return B.ethIpv4Tcp({
    src: '198.18.1.1', dst: '198.18.0.1', ttl: 57,
    tcp: { sport: 443, dport: 40000, seq: 1000, ack: 2000, flags: B.TCP_FLAGS.RST | B.TCP_FLAGS.ACK },
    payload: [],
    eth: { vlans, src: zeroMacs ? [0, 0, 0, 0, 0, 0] : B.MAC_B, dst: zeroMacs ? [0, 0, 0, 0, 0, 0] : B.MAC_A },
  });
}

function decode(frame: Uint8Array): DecodedPacket {
  const pkt = new DecodedPacket();
  expect(decodePacket(pkt, frame, 0, frame.length, frame.length, LinkType.ETHERNET)).toBe(DecodeResult.flow);
  return pkt;
}

const side = (s: Partial<SideAddressing>): SideAddressing => ({ mode: 'own', nextHopMac: null, vlan: 'observed', ...s });

describe('injection path addressing', () => {
  test('own mode: the sensor MAC as source, the observed MAC of the endpoint as destination, the segment untouched', () => {
    const rec = new Recorder(false);
    const path = new InjectionPath({ toClient: side({}), toServer: side({}), ownMac: Uint8Array.from(OWN) }, rec, null);
    const frame = rst([42]);
    path.send(frame, frame.length, 0, 0, 0);
    expect(rec.frames).toHaveLength(1);
    const out = rec.frames[0]!;
    expect([...out.subarray(0, 6)]).toEqual(B.MAC_A);
    expect([...out.subarray(6, 12)]).toEqual(OWN);
    expect([...out.subarray(12)]).toEqual([...frame.subarray(12)]);
    expect(decode(out).vlanCount).toBe(1);
    expect(decode(out).vlan0).toBe(42);
  });

  test('own mode with a next-hop MAC, per side; observed mode keeps the endpoint MACs', () => {
    const rec = new Recorder(false);
    const path = new InjectionPath({
      toClient: side({ nextHopMac: Uint8Array.from(ROUTER) }),
      toServer: side({ mode: 'observed' }),
      ownMac: Uint8Array.from(OWN),
    }, rec, null);
    const frame = rst();
    path.send(frame, frame.length, 0, 0, 0);
    path.send(frame, frame.length, 0, 0, 1);
    expect([...rec.frames[0]!.subarray(0, 12)]).toEqual([...ROUTER, ...OWN]);
    expect([...rec.frames[1]!.subarray(0, 12)]).toEqual([...B.MAC_A, ...B.MAC_B]);
  });

  test('VLAN per side: replaced by a configured VID, or stripped', () => {
    const rec = new Recorder(false);
    const path = new InjectionPath({ toClient: side({ vlan: 300 }), toServer: side({ vlan: 'none' }), ownMac: Uint8Array.from(OWN) }, rec, null);
    const frame = rst(B.qinq(100, 200));
    path.send(frame, frame.length, 0, 0, 0);
    path.send(frame, frame.length, 0, 0, 1);
    const toClient = decode(rec.frames[0]!);
    expect(toClient.vlanCount).toBe(1);
    expect(toClient.vlan0).toBe(300);
    expect(rec.frames[0]!.length).toBe(frame.length - 4);
    const toServer = decode(rec.frames[1]!);
    expect(toServer.vlanCount).toBe(0);
    expect(rec.frames[1]!.length).toBe(frame.length - 8);
    // The IP packet and TCP segment (and so their checksums) are carried over byte for byte.
    expect([...rec.frames[1]!.subarray(14)]).toEqual([...frame.subarray(22)]);
  });

  test('layer 3: the IP packet alone, without any link-layer header', () => {
    const rec = new Recorder(false);
    const path = new InjectionPath({ toClient: side({ mode: 'l3' }), toServer: side({ mode: 'l3' }), ownMac: null }, null, rec);
    const frame = rst([7]);
    path.send(frame, frame.length, 0, 0, 0);
    expect(rec.packets).toHaveLength(1);
    expect([...rec.packets[0]!]).toEqual([...frame.subarray(18)]);
  });

  test('frames without MACs (quiet sessions) take them from the neighbours learned; unknown ones are counted, not sent', () => {
    const rec = new Recorder(false);
    const path = new InjectionPath({ toClient: side({ mode: 'observed' }), toServer: side({}), ownMac: Uint8Array.from(OWN) }, rec, null);
    const frame = rst([], true);
    path.send(frame, frame.length, 0, 0, 0);
    expect(rec.frames).toHaveLength(0);
    expect(path.noNeighbor).toBe(1);
    const client = B.ipv4MappedWords('198.18.0.1');
    const server = B.ipv4MappedWords('198.18.1.1');
    path.neighbors.learn(...client, Uint8Array.from(B.MAC_A), 0);
    path.neighbors.learn(...server, Uint8Array.from(B.MAC_B), 0);
    path.send(frame, frame.length, 0, 0, 0);
    expect([...rec.frames[0]!.subarray(0, 12)]).toEqual([...B.MAC_A, ...B.MAC_B]);
  });

  test('batching: frames queue until flush and go out in one sendBatch call', () => {
    const rec = new Recorder(true);
    const path = new InjectionPath({ toClient: side({}), toServer: side({}), ownMac: Uint8Array.from(OWN) }, rec, null);
    const frame = rst();
    for (let i = 0; i < 5; i++) path.send(frame, frame.length, 0, 0, i & 1);
    expect(rec.frames).toHaveLength(0);
    path.flush();
    expect(rec.batches).toBe(1);
    expect(rec.frames).toHaveLength(5);
    expect(path.sent).toBe(5);
    for (let i = 0; i < 200; i++) path.send(frame, frame.length, 0, 0, 0);
    path.flush();
    expect(rec.frames).toHaveLength(205);
  });

  test('refuses a configuration it cannot carry out', () => {
    const rec = new Recorder(false);
    expect(() => new InjectionPath({ toClient: side({}), toServer: side({}), ownMac: null }, rec, null)).toThrow(/MAC/);
    expect(() => new InjectionPath({ toClient: side({ mode: 'l3' }), toServer: side({}), ownMac: Uint8Array.from(OWN) }, rec, null)).toThrow(/layer-3/);
  });
});
