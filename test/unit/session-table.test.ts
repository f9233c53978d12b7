import { describe, expect, it } from 'vitest';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult, IpProto } from '../../src/decode/decoded-packet.js';
import { EndReason, SessionTable, type SessionTableOptions } from '../../src/session/session-table.js';
import { seqAfter, SessionState, SessionStateName, TcpDirState, tcpSessionState } from '../../src/session/tcp-state.js';
import { DEFAULT_TIMEOUTS, parseTimeouts, TimeoutClass, type SessionTimeouts, type TimeoutClassName } from '../../src/session/timeouts.js';
import { nativeTrackerFor } from '../../src/pipeline/session-track-path.js';
import { ST_RESULT } from '../../src/session/native-track.js';
import { ConfigError } from '../../src/util/errors.js';
import * as B from '../support/packet-builder.js';

const { ETH, PROTO, TCP_FLAGS: F } = B;

const pkt = new DecodedPacket();

interface Seg {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  payload?: number;
  window?: number;
  wscale?: number;
  mss?: number;
  vlans?: B.EthernetOptions['vlans'];
  ttl?: number;
}

/** Builds and decodes a frame; returns the decoded packet (shared) and the frame length. */
function frame(bytes: Uint8Array): { pkt: DecodedPacket; len: number } {
  const r = decodePacket(pkt, bytes, 0, bytes.length, bytes.length, 1);
  if (r !== DecodeResult.flow) throw new Error(`test frame did not decode to a flow (${r}, error ${pkt.error})`);
  return { pkt, len: bytes.length };
}

function tcpFrame(s: Seg): Uint8Array {
  const options = s.wscale !== undefined || s.mss !== undefined ? B.tcpOptions({ mss: s.mss, wscale: s.wscale }) : [];
  const t = B.tcp({ sport: s.sport, dport: s.dport, flags: s.flags, seq: s.seq ?? 0, ack: s.ack ?? 0, window: s.window ?? 1000, options }, B.pattern(s.payload ?? 0));
  const v6 = s.src.includes(':');
  const ip = v6 ? B.ipv6({ src: s.src, dst: s.dst, next: PROTO.TCP, hopLimit: s.ttl ?? 64 }, t) : B.ipv4({ src: s.src, dst: s.dst, proto: PROTO.TCP, ttl: s.ttl ?? 64 }, t);
  return B.ethernet(v6 ? ETH.IPV6 : ETH.IPV4, ip, { vlans: s.vlans });
}

function udpFrame(src: string, dst: string, sport: number, dport: number, payload = 10, vlans?: B.EthernetOptions['vlans']): Uint8Array {
  const u = B.udp({ sport, dport }, B.pattern(payload));
  const v6 = src.includes(':');
  const ip = v6 ? B.ipv6({ src, dst, next: PROTO.UDP }, u) : B.ipv4({ src, dst, proto: PROTO.UDP }, u);
  return B.ethernet(v6 ? ETH.IPV6 : ETH.IPV4, ip, { vlans });
}

function icmpFrame(src: string, dst: string, type: number, id: number): Uint8Array {
  return B.ethernet(ETH.IPV4, B.ipv4({ src, dst, proto: PROTO.ICMP }, B.icmpEcho(type, id, 1, B.pattern(8))));
}

function track(table: SessionTable, bytes: Uint8Array, ts: number): number {
  const f = frame(bytes);
  f.pkt.ts = ts;
  return table.track(f.pkt, f.len);
}

const stateName = (t: SessionTable, s: number): string => SessionStateName[t.state(s)]!;
const classOf = (t: SessionTable, s: number): string =>
  Object.entries(TimeoutClass).find(([, v]) => v === t.timeoutClassOf(s))?.[0] ?? `none(${t.timeoutClassOf(s)})`;
const addrWords = (t: SessionTable, s: number): number[] => [0, 1].flatMap((side) => [0, 1, 2, 3].map((i) => t.addressWord(s, side, i)));
const portsOf = (t: SessionTable, s: number): number => ((t.port(s, 0) << 16) | t.port(s, 1)) >>> 0;

function classSizes(t: SessionTable): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, cls] of Object.entries(TimeoutClass)) {
    const n = t.sessionsInClass(cls);
    if (n) out[name] = n;
  }
  return out;
}

const A = '10.0.0.1';
const S = '10.0.0.2';


// Every test runs on both per-packet paths: the TypeScript one and the addon's (native-bindings/src/session_track.cc),
// which must give the same sessions. The native path is required here: a missing or stale addon fails these tests.
const TRACK_PATHS = [
  { name: 'js', factory: () => null },
  { name: 'native', factory: () => nativeTrackerFor('native') },
];

describe.each(TRACK_PATHS)('$name path', ({ name, factory }) => {
  const newTable = (options: SessionTableOptions = {}): SessionTable => new SessionTable({ ...options, nativeTracker: factory() });

  it('tracks on the path it was given', () => {
    expect(newTable({ capacity: 4 }).trackPath).toBe(name);
  });

  describe('TCP session lifecycle', () => {
    it('handshake, data both ways, FIN both ways: per-direction state, isn, nxt, lastAck, window, counters', () => {
      const ended: number[] = [];
      const t = newTable({ capacity: 16, onEnd: (_t, _s, reason) => ended.push(reason) });
      const c = (o: Partial<Seg> & { flags: number }): Uint8Array => tcpFrame({ src: A, dst: S, sport: 40000, dport: 80, ...o });
      const s2c = (o: Partial<Seg> & { flags: number }): Uint8Array => tcpFrame({ src: S, dst: A, sport: 80, dport: 40000, ...o });
      const lens: number[] = [];
      const step = (bytes: Uint8Array, ts: number): number => {
        lens.push(bytes.length);
        return track(t, bytes, ts);
      };

      const s = step(c({ flags: F.SYN, seq: 1000, window: 64240, wscale: 7, mss: 1460, ttl: 128 }), 100);
      expect([t.lastCreated, t.lastDirection, stateName(t, s), classOf(t, s)]).toEqual([true, 0, 'syn_sent', 'tcpHalfOpen']);
      expect([t.tcpState(s, 0), t.isn(s, 0), t.nxt(s, 0), t.windowScale(s, 0), t.ttl(s, 0)]).toEqual([TcpDirState.syn, 1000, 1001, 7, 128]);

      expect(step(s2c({ flags: F.SYN | F.ACK, seq: 5000, ack: 1001, window: 65160, wscale: 8, ttl: 60 }), 100.01)).toBe(s);
      expect([t.lastCreated, t.lastDirection, stateName(t, s), classOf(t, s)]).toEqual([false, 1, 'syn_received', 'tcpHalfOpen']);
      expect([t.tcpState(s, 1), t.isn(s, 1), t.nxt(s, 1), t.lastAck(s, 1), t.windowScale(s, 1)]).toEqual([TcpDirState.synAck, 5000, 5001, 1001, 8]);

      step(c({ flags: F.ACK, seq: 1001, ack: 5001, window: 502 }), 100.02);
      expect([stateName(t, s), classOf(t, s)]).toEqual(['established', 'tcpEstablished']);
      step(c({ flags: F.ACK | F.PSH, seq: 1001, ack: 5001, window: 502, payload: 100 }), 100.03);
      step(s2c({ flags: F.ACK | F.PSH, seq: 5001, ack: 1101, window: 509, payload: 300 }), 100.04);
      expect(t.tcpState(s, 1)).toBe(TcpDirState.established);
      step(c({ flags: F.ACK, seq: 1101, ack: 5301, window: 500 }), 100.05);
      step(c({ flags: F.FIN | F.ACK, seq: 1101, ack: 5301, window: 500 }), 100.06);
      expect([stateName(t, s), classOf(t, s)]).toEqual(['closing', 'tcpClosing']);
      step(s2c({ flags: F.FIN | F.ACK, seq: 5301, ack: 1102, window: 509 }), 100.07);
      expect([stateName(t, s), classOf(t, s)]).toEqual(['closed', 'tcpClosed']);
      step(c({ flags: F.ACK, seq: 1102, ack: 5302, window: 499 }), 100.08);

      expect({
        state: stateName(t, s),
        dirStates: [t.tcpState(s, 0), t.tcpState(s, 1)],
        isn: [t.isn(s, 0), t.isn(s, 1)],
        nxt: [t.nxt(s, 0), t.nxt(s, 1)],
        lastAck: [t.lastAck(s, 0), t.lastAck(s, 1)],
        window: [t.window(s, 0), t.window(s, 1)],
        wscale: [t.windowScale(s, 0), t.windowScale(s, 1)],
        ttl: [t.ttl(s, 0), t.ttl(s, 1)],
        packets: [t.packets(s, 0), t.packets(s, 1)],
        bytes: [t.bytes(s, 0), t.bytes(s, 1)],
      }).toEqual({
        state: 'closed',
        dirStates: [TcpDirState.fin, TcpDirState.fin],
        isn: [1000, 5000],
        nxt: [1102, 5302], // SYN and FIN count one each
        lastAck: [5302, 1102],
        window: [499, 509],
        wscale: [7, 8],
        ttl: [64, 64],
        packets: [6, 3],
        bytes: [lens[0]! + lens[2]! + lens[3]! + lens[5]! + lens[6]! + lens[8]!, lens[1]! + lens[4]! + lens[7]!],
      });
      // Initiator = SYN sender.
      expect(addrWords(t, s)).toEqual([...B.ipv4MappedWords(A), ...B.ipv4MappedWords(S)]);
      expect(portsOf(t, s)).toBe(((40000 << 16) | 80) >>> 0);
      expect([t.proto(s), t.isIpv4(s), t.firstTs(s), t.lastTs(s), t.keyVlan(s)]).toEqual([PROTO.TCP, true, 100, 100.08, 0]);
      expect([t.active, t.peakActive, t.created[0], t.created[1], t.created[2]]).toEqual([1, 1, 1, 0, 0]);
      expect(ended).toEqual([]);
      t.flush();
      expect([ended, t.active]).toEqual([[EndReason.flushed], 0]);
    });

    it('out-of-order and retransmitted segments do not move nxt or lastAck backwards (with wrap-around)', () => {
      const t = newTable({ capacity: 4 });
      const s = track(t, tcpFrame({ src: A, dst: S, sport: 1, dport: 2, flags: F.SYN, seq: 0xfffffff0 }), 1);
      track(t, tcpFrame({ src: S, dst: A, sport: 2, dport: 1, flags: F.SYN | F.ACK, seq: 7, ack: 0xfffffff1 }), 1);
      track(t, tcpFrame({ src: A, dst: S, sport: 1, dport: 2, flags: F.ACK, seq: 0xfffffff1, ack: 8, payload: 100 }), 2); // wraps to 0x55
      expect(t.nxt(s, 0)).toBe(0x55);
      track(t, tcpFrame({ src: A, dst: S, sport: 1, dport: 2, flags: F.ACK, seq: 0xfffffff1, ack: 8, payload: 10 }), 3); // retransmission, shorter
      expect(t.nxt(s, 0)).toBe(0x55);
      track(t, tcpFrame({ src: S, dst: A, sport: 2, dport: 1, flags: F.ACK, seq: 8, ack: 0x55 }), 3);
      track(t, tcpFrame({ src: S, dst: A, sport: 2, dport: 1, flags: F.ACK, seq: 8, ack: 0xfffffff1 }), 4); // old ACK
      expect(t.lastAck(s, 1)).toBe(0x55);
    });

    it('SYN-ACK seen first: its destination is the initiator', () => {
      const t = newTable({ capacity: 4 });
      const s = track(t, tcpFrame({ src: S, dst: A, sport: 443, dport: 51000, flags: F.SYN | F.ACK, seq: 7000, ack: 301, wscale: 2 }), 50);
      expect([t.lastCreated, t.lastDirection]).toEqual([true, 1]);
      expect(addrWords(t, s)).toEqual([...B.ipv4MappedWords(A), ...B.ipv4MappedWords(S)]);
      expect(portsOf(t, s)).toBe(((51000 << 16) | 443) >>> 0);
      expect([t.tcpState(s, 0), t.tcpState(s, 1), t.isn(s, 1), t.windowScale(s, 1), t.packets(s, 0), t.packets(s, 1)]).toEqual([
        TcpDirState.none, TcpDirState.synAck, 7000, 2, 0, 1,
      ]);
      expect(stateName(t, s)).toBe('syn_received');
      expect(track(t, tcpFrame({ src: A, dst: S, sport: 51000, dport: 443, flags: F.ACK, seq: 301, ack: 7001 }), 50.1)).toBe(s);
      expect([t.lastCreated, t.lastDirection, stateName(t, s)]).toEqual([false, 0, 'established']);
    });

    it('port reuse: a SYN with a new ISN ends the old session and starts a new one; a retransmitted SYN does not', () => {
      const ended: [number, number, string][] = [];
      const t = newTable({ capacity: 8, onEnd: (tt, s, reason) => ended.push([s, reason, stateName(tt, s)]) });
      const syn = (seq: number): Uint8Array => tcpFrame({ src: A, dst: S, sport: 33000, dport: 22, flags: F.SYN, seq });
      const s1 = track(t, syn(100), 10);
      track(t, tcpFrame({ src: S, dst: A, sport: 22, dport: 33000, flags: F.SYN | F.ACK, seq: 900, ack: 101 }), 10);
      track(t, tcpFrame({ src: A, dst: S, sport: 33000, dport: 22, flags: F.ACK, seq: 101, ack: 901 }), 10);
      track(t, tcpFrame({ src: A, dst: S, sport: 33000, dport: 22, flags: F.FIN | F.ACK, seq: 101, ack: 901 }), 11);
      track(t, tcpFrame({ src: S, dst: A, sport: 22, dport: 33000, flags: F.FIN | F.ACK, seq: 901, ack: 102 }), 11);
      expect(stateName(t, s1)).toBe('closed');

      // Same ISN again: a retransmission, same session.
      expect(track(t, syn(100), 12)).toBe(s1);
      expect([t.lastCreated, t.reused, ended.length]).toEqual([false, 0, 0]);

      const s2 = track(t, syn(555_555), 13);
      expect(ended).toEqual([[s1, EndReason.reused, 'closed']]);
      expect([t.lastCreated, t.reused, t.active, t.created[0]]).toEqual([true, 1, 1, 2]);
      expect([stateName(t, s2), t.isn(s2, 0), t.packets(s2, 0), t.packets(s2, 1), t.firstTs(s2)]).toEqual(['syn_sent', 555_555, 1, 0, 13]);
    });

    it('RST: reset state, closed class; later segments keep it reset', () => {
      const t = newTable({ capacity: 4 });
      const s = track(t, tcpFrame({ src: A, dst: S, sport: 5, dport: 6, flags: F.SYN, seq: 1, window: 100 }), 1);
      track(t, tcpFrame({ src: S, dst: A, sport: 6, dport: 5, flags: F.RST | F.ACK, seq: 0, ack: 2, window: 0 }), 1);
      expect([stateName(t, s), classOf(t, s), t.tcpState(s, 1), t.window(s, 1)]).toEqual(['reset', 'tcpClosed', TcpDirState.rst, 0]);
      track(t, tcpFrame({ src: S, dst: A, sport: 6, dport: 5, flags: F.ACK, seq: 0, ack: 2, window: 77 }), 2);
      expect([stateName(t, s), t.tcpState(s, 1)]).toEqual(['reset', TcpDirState.rst]);
    });

    it('picked up midstream: one-way is half-open, two-way is established', () => {
      const t = newTable({ capacity: 4 });
      const s = track(t, tcpFrame({ src: A, dst: S, sport: 7, dport: 8, flags: F.ACK, seq: 50, ack: 60, payload: 5 }), 1);
      expect([stateName(t, s), classOf(t, s), t.nxt(s, 0), t.isn(s, 0), t.hasIsn(s, 0)]).toEqual(['midstream', 'tcpHalfOpen', 55, 0, false]);
      track(t, tcpFrame({ src: S, dst: A, sport: 8, dport: 7, flags: F.ACK, seq: 60, ack: 55 }), 1);
      expect([stateName(t, s), classOf(t, s)]).toEqual(['established', 'tcpEstablished']);
    });

    it('tcpSessionState and seqAfter', () => {
      const D = TcpDirState;
      expect(tcpSessionState(D.syn, D.none)).toBe(SessionState.synSent);
      expect(tcpSessionState(D.syn, D.synAck)).toBe(SessionState.synReceived);
      expect(tcpSessionState(D.established, D.synAck)).toBe(SessionState.established);
      expect(tcpSessionState(D.fin, D.established)).toBe(SessionState.closing);
      expect(tcpSessionState(D.fin, D.fin)).toBe(SessionState.closed);
      expect(tcpSessionState(D.fin, D.rst)).toBe(SessionState.reset);
      expect(tcpSessionState(D.none, D.established)).toBe(SessionState.midstream);
      expect([seqAfter(1, 0), seqAfter(0, 1), seqAfter(0, 0xffffffff), seqAfter(0x7fffffff, 0), seqAfter(0x80000000, 0)]).toEqual([true, false, true, true, false]);
    });
  });

  describe('UDP and other protocols', () => {
    it('UDP one-way then two-way; ICMP echo request/reply share a session', () => {
      const t = newTable({ capacity: 8 });
      const u = track(t, udpFrame(A, S, 5000, 53), 1);
      expect([stateName(t, u), classOf(t, u)]).toEqual(['one_way', 'udpOneWay']);
      expect(track(t, udpFrame(S, A, 53, 5000), 1.1)).toBe(u);
      expect([stateName(t, u), classOf(t, u), t.lastDirection]).toEqual(['two_way', 'udpTwoWay', 1]);
      const i = track(t, icmpFrame(A, S, 8, 0x77), 2);
      expect([stateName(t, i), classOf(t, i)]).toEqual(['one_way', 'otherOneWay']);
      expect(track(t, icmpFrame(S, A, 0, 0x77), 2.1)).toBe(i);
      expect([stateName(t, i), classOf(t, i)]).toEqual(['two_way', 'otherTwoWay']);
      expect(track(t, icmpFrame(A, S, 8, 0x78), 3)).not.toBe(i);
      expect([t.created[0], t.created[1], t.created[2]]).toEqual([0, 1, 2]);
    });

    it('the protocol is part of the key', () => {
      const t = newTable({ capacity: 8 });
      const u = track(t, udpFrame(A, S, 5000, 80), 1);
      const c = track(t, tcpFrame({ src: A, dst: S, sport: 5000, dport: 80, flags: F.SYN }), 1);
      expect(u).not.toBe(c);
      expect(t.active).toBe(2);
    });
  });

  describe('IPv6', () => {
    it('IPv6 sessions: addresses as four words, both directions matched', () => {
      const t = newTable({ capacity: 8 });
      const c6 = '2001:db8::10';
      const s6 = '2001:db8:ffff::20';
      const s = track(t, tcpFrame({ src: c6, dst: s6, sport: 40001, dport: 443, flags: F.SYN, seq: 1 }), 1);
      expect(track(t, tcpFrame({ src: s6, dst: c6, sport: 443, dport: 40001, flags: F.SYN | F.ACK, seq: 2, ack: 2 }), 1)).toBe(s);
      expect(track(t, tcpFrame({ src: c6, dst: s6, sport: 40001, dport: 443, flags: F.ACK, seq: 2, ack: 3 }), 1)).toBe(s);
      expect([t.isIpv4(s), stateName(t, s), t.active]).toEqual([false, 'established', 1]);
      expect(addrWords(t, s)).toEqual([...B.ipv6Words(c6), ...B.ipv6Words(s6)]);
    });

    it('addresses that differ only in one word are different sessions', () => {
      const t = newTable({ capacity: 16 });
      const base = ['2001:db8::1', '2001:db9::1', '2001:db8:1::1', '2001:db8::1:0:0:1', '2001:db8::2'];
      const ids = base.map((src) => track(t, udpFrame(src, '2001:db8::ff', 1, 2), 1));
      expect(new Set(ids).size).toBe(base.length);
    });

    it('an IPv6 flow between IPv4-mapped addresses is not the IPv4 flow between the same addresses', () => {
      // Both are stored as the same eight words; the family is part of the key (IPv4 flows compare only the last words).
      const t = newTable({ capacity: 16 });
      const v4 = track(t, udpFrame('198.18.0.1', '198.18.0.2', 1000, 53), 1);
      const mapped = track(t, udpFrame('::ffff:c612:1', '::ffff:c612:2', 1000, 53), 1);
      expect(mapped).not.toBe(v4);
      expect(addrWords(t, mapped)).toEqual(addrWords(t, v4));
      expect([t.isIpv4(v4), t.isIpv4(mapped)]).toEqual([true, false]);
      expect(track(t, udpFrame('198.18.0.2', '198.18.0.1', 53, 1000), 2)).toBe(v4);
      expect(track(t, udpFrame('::ffff:c612:2', '::ffff:c612:1', 53, 1000), 2)).toBe(mapped);
      expect(t.active).toBe(2);
    });
  });

  describe('VLAN tracking', () => {
    it('on (default): the same 5-tuple on two VLANs is two sessions; QinQ keys on both tags', () => {
      const t = newTable({ capacity: 8 });
      expect(t.vlanTracking).toBe(true);
      const a = track(t, udpFrame(A, S, 1, 2, 10, [10]), 1);
      const b = track(t, udpFrame(A, S, 1, 2, 10, [20]), 1);
      const c = track(t, udpFrame(A, S, 1, 2, 10, B.qinq(10, 20)), 1);
      const d = track(t, udpFrame(A, S, 1, 2, 10, B.qinq(20, 10)), 1);
      expect(new Set([a, b, c, d]).size).toBe(4);
      expect([t.keyVlan(a), t.keyVlan(b), t.keyVlan(c), t.keyVlan(d)]).toEqual([10 << 12, 20 << 12, (10 << 12) | 20, (20 << 12) | 10]);
      // The reply on VLAN 10 joins session a.
      expect(track(t, udpFrame(S, A, 2, 1, 10, [10]), 2)).toBe(a);
      expect(stateName(t, a)).toBe('two_way');
    });

    it('off: one session whatever the tags; each direction keeps the tags it was seen with', () => {
      const t = newTable({ capacity: 8, vlanTracking: false });
      const s = track(t, tcpFrame({ src: A, dst: S, sport: 9, dport: 10, flags: F.SYN, seq: 1, vlans: [10] }), 1);
      expect(track(t, tcpFrame({ src: S, dst: A, sport: 10, dport: 9, flags: F.SYN | F.ACK, seq: 5, ack: 2, vlans: [20] }), 1)).toBe(s);
      expect(track(t, tcpFrame({ src: A, dst: S, sport: 9, dport: 10, flags: F.ACK, seq: 2, ack: 6, vlans: B.qinq(10, 11) }), 1)).toBe(s);
      expect([t.active, t.keyVlan(s), t.dirVlan(s, 0), t.dirVlan(s, 1), stateName(t, s)]).toEqual([1, 0, (10 << 12) | 11, 20 << 12, 'established']);
    });
  });

  describe('idle timeouts (packet time)', () => {
    const timeouts: SessionTimeouts = {
      tcpClosed: 10, tcpHalfOpen: 20, udpOneWay: 30, otherOneWay: 40, tcpClosing: 50, udpTwoWay: 60, otherTwoWay: 70, tcpEstablished: 80,
    };
    const T0 = 1_000_000;

    /** One session in every class, all last active at T0. Returns session → class name. */
    function populate(t: SessionTable): Map<number, TimeoutClassName> {
      const m = new Map<number, TimeoutClassName>();
      const hs = (sport: number, ts: number): number => {
        const s = track(t, tcpFrame({ src: A, dst: S, sport, dport: 80, flags: F.SYN, seq: 1 }), ts);
        track(t, tcpFrame({ src: S, dst: A, sport: 80, dport: sport, flags: F.SYN | F.ACK, seq: 9, ack: 2 }), ts);
        track(t, tcpFrame({ src: A, dst: S, sport, dport: 80, flags: F.ACK, seq: 2, ack: 10 }), ts);
        return s;
      };
      const closed = hs(1, T0);
      track(t, tcpFrame({ src: A, dst: S, sport: 1, dport: 80, flags: F.FIN | F.ACK, seq: 2, ack: 10 }), T0);
      track(t, tcpFrame({ src: S, dst: A, sport: 80, dport: 1, flags: F.FIN | F.ACK, seq: 10, ack: 3 }), T0);
      m.set(closed, 'tcpClosed');
      m.set(track(t, tcpFrame({ src: A, dst: S, sport: 2, dport: 80, flags: F.SYN, seq: 1 }), T0), 'tcpHalfOpen');
      m.set(track(t, udpFrame(A, S, 3, 53), T0), 'udpOneWay');
      m.set(track(t, icmpFrame(A, S, 8, 4), T0), 'otherOneWay');
      const closing = hs(5, T0);
      track(t, tcpFrame({ src: A, dst: S, sport: 5, dport: 80, flags: F.FIN | F.ACK, seq: 2, ack: 10 }), T0);
      m.set(closing, 'tcpClosing');
      const u2 = track(t, udpFrame(A, S, 6, 53), T0);
      track(t, udpFrame(S, A, 53, 6), T0);
      m.set(u2, 'udpTwoWay');
      const i2 = track(t, icmpFrame(A, S, 8, 7), T0);
      track(t, icmpFrame(S, A, 0, 7), T0);
      m.set(i2, 'otherTwoWay');
      m.set(hs(8, T0), 'tcpEstablished');
      return m;
    }

    it('each class expires after its own timeout, not before', () => {
      const ended: [TimeoutClassName, number, number][] = [];
      let t!: SessionTable;
      let classes!: Map<number, TimeoutClassName>;
      t = newTable({ capacity: 64, timeouts, onEnd: (_t, s, reason) => ended.push([classes.get(s)!, reason, _t.lastTs(s)]) });
      classes = populate(t);
      for (const [s, cls] of classes) expect(classOf(t, s), `session ${s}`).toBe(cls);
      expect(t.active).toBe(8);
      const order = (Object.keys(timeouts) as TimeoutClassName[]).sort((a, b) => timeouts[a] - timeouts[b]);
      for (const cls of order) {
        t.expire(T0 + timeouts[cls] - 0.5);
        expect(ended.map((e) => e[0])).not.toContain(cls);
        t.expire(T0 + timeouts[cls] + 0.5);
        expect(ended.at(-1)).toEqual([cls, EndReason.timeout, T0]);
      }
      expect(ended.map((e) => e[0])).toEqual(order);
      expect([t.active, t.expired]).toEqual([0, 8]);
    });

    it('packets drive the clock: track() at a later timestamp expires idle sessions; activity refreshes a session', () => {
      const ended: number[] = [];
      const t = newTable({ capacity: 64, timeouts, onEnd: (_t, s) => ended.push(s) });
      const idle = track(t, udpFrame(A, S, 100, 53), T0);
      const busy = track(t, udpFrame(A, S, 101, 53), T0);
      track(t, udpFrame(A, S, 101, 53), T0 + 25); // refresh at +25 (timeout 30)
      track(t, udpFrame('10.9.9.9', S, 102, 53), T0 + 31); // another flow moves the clock
      expect(ended).toEqual([idle]);
      expect(t.lastTs(busy)).toBe(T0 + 25);
      track(t, udpFrame('10.9.9.9', S, 102, 53), T0 + 56);
      expect(ended).toEqual([idle, busy]);
    });

    it('expiry walks once per capture second from the first packet on: a session past its timeout between walks still takes packets', () => {
      // The first packets also call expire() (JIT warm-up), but with the time of the last walk: nothing ends earlier.
      const ended: number[] = [];
      const t = newTable({ capacity: 64, timeouts, onEnd: (_t, s) => ended.push(s) });
      const idle = track(t, udpFrame(A, S, 100, 53), T0); // a walk at T0: the next is due at T0 + 1
      const quiet = track(t, udpFrame(A, S, 101, 53), T0 + 0.5);
      track(t, udpFrame('10.9.9.9', S, 102, 53), T0 + 30.2); // a walk: idle ends (30.2 s > 30); the next is due at +31.2
      expect(ended).toEqual([idle]);
      track(t, udpFrame('10.9.9.9', S, 102, 53), T0 + 30.6); // quiet is 30.1 s idle, but no walk is due
      expect(track(t, udpFrame(S, A, 53, 101), T0 + 30.7)).toBe(quiet);
      expect(ended).toEqual([idle]);
    });

    it('a session that went two-way moves to the longer timeout', () => {
      const ended: number[] = [];
      const t = newTable({ capacity: 8, timeouts, onEnd: (_t, s) => ended.push(s) });
      const s = track(t, udpFrame(A, S, 100, 53), T0);
      track(t, udpFrame(S, A, 53, 100), T0 + 1);
      t.expire(T0 + 45);
      expect(ended).toEqual([]);
      t.expire(T0 + 62);
      expect(ended).toEqual([s]);
    });

    it('defaults and parseTimeouts', () => {
      expect(newTable({ capacity: 1 }).timeouts).toEqual(DEFAULT_TIMEOUTS);
      expect(parseTimeouts('tcpEstablished=7200, udpTwoWay=600').tcpEstablished).toBe(7200);
      expect(parseTimeouts('tcpEstablished=7200, udpTwoWay=600').udpTwoWay).toBe(600);
      expect(Object.values(parseTimeouts('none'))).toEqual(new Array(8).fill(Infinity));
      expect(() => parseTimeouts('tcpBogus=1')).toThrow(ConfigError);
      expect(() => parseTimeouts('udpOneWay=-1')).toThrow(ConfigError);
      expect(() => parseTimeouts('udpOneWay=abc')).toThrow(ConfigError);
    });
  });

  describe('capacity and eviction', () => {
    it('rejects impossible capacities', () => {
      for (const capacity of [0, -1, 1.5, 100_000_001, Number.NaN]) expect(() => newTable({ capacity })).toThrow(ConfigError);
    });

    it('a SYN flood from spoofed sources does not evict established sessions', () => {
      const endedStates: string[] = [];
      const t = newTable({ capacity: 1000, onEnd: (tt, s) => endedStates.push(stateName(tt, s)) });
      const established: { sport: number; s: number }[] = [];
      let ts = 5000;
      for (let i = 0; i < 100; i++) {
        const sport = 20000 + i;
        const s = track(t, tcpFrame({ src: A, dst: S, sport, dport: 443, flags: F.SYN, seq: i }), ts);
        track(t, tcpFrame({ src: S, dst: A, sport: 443, dport: sport, flags: F.SYN | F.ACK, seq: 7, ack: i + 1 }), ts);
        track(t, tcpFrame({ src: A, dst: S, sport, dport: 443, flags: F.ACK, seq: i + 1, ack: 8 }), ts);
        established.push({ sport, s });
      }
      // Flood: one prebuilt SYN, source address and port rewritten in place.
      const syn = tcpFrame({ src: '192.0.2.1', dst: S, sport: 1, dport: 443, flags: F.SYN, seq: 1 });
      const rng = new B.Rng(1234);
      const FLOOD = 20_000;
      for (let i = 0; i < FLOOD; i++) {
        syn.set(B.u32(0xc6000000 | rng.int(1 << 17)), 14 + 12); // 198.0.0.0/15
        syn.set(B.u16(1024 + rng.int(60000)), 34);
        syn.set(B.u32(rng.u32()), 38);
        ts += 0.0005;
        track(t, syn, ts);
        if (t.active > t.capacity) throw new Error('capacity exceeded');
      }
      expect(t.active).toBe(1000);
      expect(t.peakActive).toBe(1000);
      expect(t.evicted).toBeGreaterThanOrEqual(FLOOD + 100 - 1000 - 5); // a few random duplicates may merge
      expect(new Set(endedStates)).toEqual(new Set(['syn_sent']));
      expect(classSizes(t).tcpEstablished).toBe(100);
      // Every established session is still there, at the same index, in the same state.
      for (const { sport, s } of established) {
        expect(track(t, tcpFrame({ src: A, dst: S, sport, dport: 443, flags: F.ACK, seq: 1, ack: 8 }), ts)).toBe(s);
        expect(t.lastCreated).toBe(false);
        expect(stateName(t, s)).toBe('established');
      }
    });

    it('a one-way UDP flood does not evict two-way UDP or established TCP either', () => {
      const t = newTable({ capacity: 50 });
      const keep: number[] = [];
      for (let i = 0; i < 10; i++) {
        keep.push(track(t, udpFrame(A, S, 3000 + i, 53), 1));
        track(t, udpFrame(S, A, 53, 3000 + i), 1);
      }
      const rng = new B.Rng(9);
      for (let i = 0; i < 2000; i++) track(t, udpFrame(`203.0.${rng.int(256)}.${rng.int(256)}`, S, 1 + rng.int(65000), 53), 2 + i * 0.001);
      expect(t.active).toBe(50);
      expect(classSizes(t).udpTwoWay).toBe(10);
      for (let i = 0; i < 10; i++) {
        expect(track(t, udpFrame(A, S, 3000 + i, 53), 5)).toBe(keep[i]);
        expect(t.lastCreated).toBe(false);
      }
    });

    it('when only two-way UDP sessions are left, the least recently active goes first', () => {
      const ended: number[] = [];
      const t = newTable({ capacity: 3, onEnd: (_t, s) => ended.push(s) });
      const mk = (port: number, ts: number): number => {
        const s = track(t, udpFrame(A, S, port, 53), ts);
        track(t, udpFrame(S, A, 53, port), ts);
        return s;
      };
      const s1 = mk(1, 10);
      const s2 = mk(2, 11);
      const s3 = mk(3, 12);
      track(t, udpFrame(A, S, 1, 53), 13); // s1 is now the most recently active: s2 is the least
      const n = track(t, udpFrame(A, S, 4, 53), 14);
      expect(ended).toEqual([s2]);
      // The newcomer is one-way: it goes before any two-way session.
      track(t, udpFrame(A, S, 5, 53), 15);
      expect(ended).toEqual([s2, n]);
      expect(t.evicted).toBe(2);
      expect([s1, s3].every((s) => t.timeoutClassOf(s) !== 255)).toBe(true);
    });

    it('when only established TCP sessions are left, the least recently active goes first (a busy old session stays)', () => {
      const ended: number[] = [];
      const t = newTable({ capacity: 3, onEnd: (_t, s) => ended.push(s) });
      const hs = (sport: number, ts: number): number => {
        const s = track(t, tcpFrame({ src: A, dst: S, sport, dport: 1521, flags: F.SYN, seq: 1 }), ts);
        track(t, tcpFrame({ src: S, dst: A, sport: 1521, dport: sport, flags: F.SYN | F.ACK, seq: 9, ack: 2 }), ts);
        track(t, tcpFrame({ src: A, dst: S, sport, dport: 1521, flags: F.ACK, seq: 2, ack: 10 }), ts);
        return s;
      };
      const db = hs(1001, 100); // long-lived database session...
      const idle1 = hs(1002, 200);
      const idle2 = hs(1003, 300);
      for (let i = 0; i < 10; i++) track(t, tcpFrame({ src: A, dst: S, sport: 1001, dport: 1521, flags: F.ACK | F.PSH, seq: 2 + i, ack: 10, payload: 1 }), 400 + i); // ...still busy
      hs(1004, 500);
      expect(ended).toEqual([idle1]);
      expect(track(t, tcpFrame({ src: S, dst: A, sport: 1521, dport: 1001, flags: F.ACK, seq: 10, ack: 12 }), 501)).toBe(db);
      expect([t.lastCreated, stateName(t, db)]).toEqual([false, 'established']);
      expect(idle2).not.toBe(db);
    });

    it('random churn: never over capacity, class lists add up, every live session is still found', () => {
      const rng = new B.Rng(42);
      const live = new Map<number, string>(); // session → key
      const keyOf = new Map<string, Uint8Array>();
      const t = newTable({
        capacity: 64,
        timeouts: { ...DEFAULT_TIMEOUTS, udpOneWay: 3, tcpHalfOpen: 30, otherOneWay: 4, tcpClosed: 5 },
        onEnd: (_t, s) => {
          if (!live.delete(s)) throw new Error(`session ${s} ended twice or was never created`);
        },
      });
      let ts = 100;
      for (let i = 0; i < 6000; i++) {
        ts += rng.int(100) / 1000;
        const host = `10.1.${rng.int(2)}.${rng.int(8)}`;
        const port = 1000 + rng.int(8);
        const kind = rng.int(3);
        const forward = rng.bool();
        const key = `${kind}|${host}|${port}`;
        let bytes: Uint8Array;
        if (kind === 0) bytes = forward ? udpFrame(host, S, port, 53) : udpFrame(S, host, 53, port);
        else if (kind === 1) bytes = forward ? icmpFrame(host, S, 8, port) : icmpFrame(S, host, 0, port);
        else {
          const flags = rng.pick([F.SYN, F.SYN, F.SYN | F.ACK, F.ACK, F.ACK | F.PSH, F.FIN | F.ACK, F.RST]);
          const seq = rng.int(3); // few ISNs: SYNs often repeat one (retransmission), often not (port reuse)
          bytes = forward
            ? tcpFrame({ src: host, dst: S, sport: port, dport: 80, flags, seq })
            : tcpFrame({ src: S, dst: host, sport: 80, dport: port, flags, seq });
        }
        const s = track(t, bytes, ts);
        if (t.lastCreated) {
          if (live.has(s)) throw new Error(`session ${s} handed out while live`);
          live.set(s, key);
          keyOf.set(key, bytes);
        } else if (live.get(s) !== key) {
          throw new Error(`packet ${i} (${key}) matched session ${s} of ${live.get(s)}`);
        }
        if (t.active > t.capacity || t.active !== live.size) throw new Error(`packet ${i}: active ${t.active}, model ${live.size}`);
        const listed = Object.values(classSizes(t)).reduce((a, b) => a + b, 0);
        if (listed !== t.active) throw new Error(`packet ${i}: class lists hold ${listed}, active ${t.active}`);
      }
      expect(t.evicted + t.expired).toBeGreaterThan(100);
      expect(t.reused).toBeGreaterThan(20);
      for (const [s, key] of [...live]) {
        expect(track(t, keyOf.get(key)!, ts)).toBe(s);
        expect(t.lastCreated).toBe(false);
      }

      // A flush ends every live session once (onEnd throws on a second end) and leaves an empty table that works.
      // The table is full enough here for the flush to reset it at once (the lifecycle test above flushes one session).
      expect(t.active).toBeGreaterThan(32);
      t.flush();
      expect([live.size, t.active, Object.values(classSizes(t)).reduce((a, b) => a + b, 0)]).toEqual([0, 0, 0]);
      for (let s = 0; s < t.rowLimit; s++) expect(t.isLive(s)).toBe(false);
      const again = [...keyOf.keys()].slice(0, 32);
      for (const key of again) {
        live.set(track(t, keyOf.get(key)!, ts), key);
        expect(t.lastCreated).toBe(true);
      }
      for (const [s, key] of [...live]) {
        expect(track(t, keyOf.get(key)!, ts)).toBe(s);
        expect(t.lastCreated).toBe(false);
      }
      expect(t.active).toBe(32);
    });

    it('capacity 1 works', () => {
      const t = newTable({ capacity: 1 } as SessionTableOptions);
      const a = track(t, udpFrame(A, S, 1, 2), 1);
      const b = track(t, udpFrame(A, S, 3, 4), 1);
      expect([a, b, t.active, t.evicted]).toEqual([0, 0, 1, 1]);
    });
  });
});

describe('the native path against the TypeScript one, array for array', () => {
  // A differential fuzz test: the same random packets go to a table on each path, and after every packet every array
  // of the two tables (rows, index, lists, free list, state words, counters) must be equal, as must what track()
  // returned and said (lastCreated, lastDirection). Few endpoints and a small table make sessions collide, end by
  // port reuse, time out and get evicted all the time; the fields cover IPv6, IPv4-mapped IPv6, QinQ, VLAN tracking
  // off, SYN-ACK first, sequence numbers across the wrap, window scale -1 to 14, TTLs and sizes.
  type Arrays = Record<'slots' | 'rows' | 'listHead' | 'listTail' | 'listSize' | 'freeList' | 'stateWords' | 'created', ArrayLike<number>>;
  const arraysOf = (t: SessionTable): Arrays => t as unknown as Arrays;
  const NAMES = ['slots', 'rows', 'listHead', 'listTail', 'listSize', 'freeList', 'stateWords', 'created'] as const;

  function randomPacket(p: DecodedPacket, random: (n: number) => number, ts: number): void {
    p.reset(new Uint8Array(0), 0, 0, 0, 1);
    const v6 = random(4) === 0;
    const mapped = !v6 && random(8) === 0; // IPv6 between IPv4-mapped addresses: a different key from the IPv4 flow
    p.ipVersion = v6 || mapped ? 6 : 4;
    const hostA = 0x0a000001 + random(3);
    const hostB = 0x0a000101 + random(2);
    const words = (host: number) => (v6 ? [0x20010db8, 0, random(2), host] : [0, 0, 0xffff, host]);
    const [a, b] = random(2) ? [words(hostA), words(hostB)] : [words(hostB), words(hostA)];
    [p.src0, p.src1, p.src2, p.src3] = a as [number, number, number, number];
    [p.dst0, p.dst1, p.dst2, p.dst3] = b as [number, number, number, number];
    const proto = [IpProto.TCP, IpProto.TCP, IpProto.TCP, IpProto.UDP, 1][random(5)]!;
    p.l4Protocol = proto;
    p.srcPort = proto === 1 ? 0 : [80, 40000][random(2)]!;
    p.dstPort = proto === 1 ? 0 : [80, 40000 + random(2)][random(2)]!;
    p.vlan0 = [0, 0, 0, 10, 4095][random(5)]!;
    p.vlan1 = p.vlan0 !== 0 && random(3) === 0 ? 20 : 0;
    p.vlanCount = (p.vlan0 ? 1 : 0) + (p.vlan1 ? 1 : 0);
    p.tcpFlags = proto === IpProto.TCP ? [F.SYN, F.SYN | F.ACK, F.ACK, F.ACK | F.PSH, F.FIN | F.ACK, F.RST, F.RST | F.ACK][random(7)]! : 0;
    p.seq = [0, 1000, 0xfffffff0, 0x7fffffff, random(0x7fffffff) * 2][random(5)]! >>> 0;
    p.ack = [0, 1001, 0xfffffff5, random(0x7fffffff) * 2][random(4)]! >>> 0;
    p.window = random(65536);
    p.windowScale = random(16) - 1;
    p.ttl = random(256);
    p.payloadLength = [0, 1, 1400, 65000][random(4)]!;
    p.ts = ts;
  }

  for (const vlanTracking of [true, false]) {
    it(`20,000 random packets, VLAN tracking ${vlanTracking ? 'on' : 'off'}`, () => {
      let seed = vlanTracking ? 11 : 12;
      const random = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed >>> 8) % n;
      };
      const timeouts = parseTimeouts('tcpClosed=2,tcpHalfOpen=3,udpOneWay=3,otherOneWay=3,tcpClosing=4,udpTwoWay=5,otherTwoWay=5,tcpEstablished=8');
      const ended: string[][] = [[], []];
      const tables = [null, nativeTrackerFor('native')].map(
        (nativeTracker, i) => new SessionTable({ capacity: 48, timeouts, vlanTracking, nativeTracker, onEnd: (t, s, reason) => ended[i]!.push(`${s}:${reason}:${stateName(t, s)}`) }),
      );
      expect(tables.map((t) => t.trackPath)).toEqual(['js', 'native']);
      const p = new DecodedPacket();
      let ts = 1000;
      for (let i = 0; i < 20_000; i++) {
        ts += random(400) === 0 ? random(9000) / 1000 : 0.002;
        randomPacket(p, random, ts);
        const bytes = 60 + random(1400);
        const [js, native] = tables.map((t) => [t.track(p, bytes), t.lastCreated ? 1 : 0, t.lastDirection]);
        if (js!.join() !== native!.join()) throw new Error(`packet ${i}: js ${js} native ${native}`);
        for (const name of NAMES) {
          const x = arraysOf(tables[0]!)[name];
          const y = arraysOf(tables[1]!)[name];
          // The state words' last one is the native call's result, which the TypeScript path has no use for.
          const length = name === 'stateWords' ? ST_RESULT : x.length;
          for (let k = 0; k < length; k++) {
            if (x[k] !== y[k] && !(Number.isNaN(x[k]) && Number.isNaN(y[k]))) throw new Error(`packet ${i}: ${name}[${k}] js ${x[k]} native ${y[k]}`);
          }
        }
      }
      expect(ended[1]).toEqual(ended[0]);
      const [a, b] = tables;
      expect([b!.evicted, b!.expired, b!.reused]).toEqual([a!.evicted, a!.expired, a!.reused]);
      // The stream must have reached every path the native side hands back, and the ones it keeps.
      expect(a!.evicted).toBeGreaterThan(100);
      expect(a!.expired).toBeGreaterThan(100);
      expect(a!.reused).toBeGreaterThan(20);
    });
  }
});
