import { describe, expect, test } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { Engine } from '../../src/pipeline/engine.js';
import { DEFAULT_GUARDS, GuardOptions } from '../../src/respond/guards/guard-policy.js';
import { CircuitBreaker } from '../../src/respond/guards/circuit-breaker.js';
import { DEFAULT_RESPONDER, MatchRecord, ResponderOptions } from '../../src/respond/responder.js';
import * as B from '../support/packet-builder.js';

const CLIENT = '198.18.0.1';
const SERVER = '198.18.0.2';
const { SYN, ACK, PSH, RST, FIN } = B.TCP_FLAGS;

interface Sent {
  frame: Uint8Array;
  pkt: DecodedPacket;
}

/** An engine fed with hand-built frames, collecting what it crafts (decoded by our own decoder) and its verdicts. */
function harness(intel: IntelSet, guards: Partial<GuardOptions> = {}, responder: Partial<ResponderOptions> = {}) {
  const sent: Sent[] = [];
  const ended: MatchRecord[] = [];
  const engine = new Engine({
    capacity: 1000,
    intel,
    guards: { ...DEFAULT_GUARDS, ...guards },
    responder: { ...DEFAULT_RESPONDER, ...responder },
    sink: {
      send(frame, length) {
        const copy = frame.slice(0, length);
        const pkt = new DecodedPacket();
        expect(decodePacket(pkt, copy, 0, length, length, LinkType.ETHERNET)).toBe(DecodeResult.flow);
        sent.push({ frame: copy, pkt });
      },
    },
    onMatchEnd: (_t, _s, record) => ended.push(record),
  });
  let ts = 1_700_000_000;
  const feed = (frame: Uint8Array, advance = 0.001) => {
    ts += advance;
    engine.handle(frame, 0, frame.length, frame.length, LinkType.ETHERNET, Math.floor(ts), Math.round((ts % 1) * 1e9));
  };
  return { engine, sent, ended, feed, now: () => ts };
}

function tcpFrame(from: 'c' | 's', flags: number, seq: number, ack: number, payload: number[] = [], opts: { sport?: number; dport?: number; client?: string; vlans?: number[]; ttl?: number } = {}) {
  const client = opts.client ?? CLIENT;
  const sport = opts.sport ?? 40000;
  const dport = opts.dport ?? 443;
  const c2s = from === 'c';
  return B.ethIpv4Tcp({
    src: c2s ? client : SERVER,
    dst: c2s ? SERVER : client,
    ttl: opts.ttl ?? (c2s ? 61 : 57),
    tcp: { sport: c2s ? sport : dport, dport: c2s ? dport : sport, seq, ack, flags },
    payload,
    eth: { vlans: opts.vlans ?? [], src: c2s ? B.MAC_A : B.MAC_B, dst: c2s ? B.MAC_B : B.MAC_A },
  });
}

function blockSet(indicator = `${SERVER}:443/tcp`, action: 'block' | 'monitor' | 'allow' = 'block', source = 'feed'): IntelSet {
  const intel = new IntelSet();
  intel.upsert({ indicator, action, source });
  return intel;
}

const C = 1000;
const S = 5000;

describe('resets per TCP state', () => {
  test('only the SYN seen: RST+ACK ack=c+1 to the client, bare RST seq=c+1 to the server', () => {
    const h = harness(blockSet());
    h.feed(tcpFrame('c', SYN, C, 0));
    expect(h.sent).toHaveLength(2);
    const [toClient, toServer] = h.sent.map((s) => s.pkt);
    expect([toClient!.dstPort, toClient!.tcpFlags, toClient!.ack]).toEqual([40000, RST | ACK, C + 1]);
    expect([toServer!.dstPort, toServer!.tcpFlags, toServer!.seq]).toEqual([443, RST, C + 1]);
  });

  test('SYN-ACK seen: RST+ACK seq=s+1 ack=c+1 to the client, seq=c+1 ack=s+1 to the server', () => {
    const intel = new IntelSet();
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    h.feed(tcpFrame('s', SYN | ACK, S, C + 1));
    intel.upsert({ indicator: SERVER, action: 'block', source: 'feed' }); // arrives now: matched on the next packet
    h.feed(tcpFrame('c', ACK, C + 1, S + 1));
    const resets = h.sent.map((s) => [s.pkt.dstPort, s.pkt.tcpFlags, s.pkt.seq, s.pkt.ack]);
    expect(resets).toEqual([
      [40000, RST | ACK, S + 1, C + 1],
      [443, RST | ACK, C + 1, S + 1],
    ]);
  });

  test('an indicator added mid-session kills an established session with data at the exact numbers, never seq 0', () => {
    const intel = new IntelSet();
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    h.feed(tcpFrame('s', SYN | ACK, S, C + 1));
    h.feed(tcpFrame('c', ACK, C + 1, S + 1));
    h.feed(tcpFrame('c', ACK | PSH, C + 1, S + 1, new Array(100).fill(0x41)));
    h.feed(tcpFrame('s', ACK | PSH, S + 1, C + 101, new Array(300).fill(0x42)));
    expect(h.sent).toHaveLength(0);
    intel.upsert({ indicator: `${SERVER}/32`, action: 'block', source: 'feed' });
    // The client acknowledges the server's data: the trigger.
    h.feed(tcpFrame('c', ACK, C + 101, S + 301));
    const toClient = h.sent.filter((s) => s.pkt.dstPort === 40000).map((s) => s.pkt.seq);
    const toServer = h.sent.filter((s) => s.pkt.dstPort === 443).map((s) => s.pkt.seq);
    expect(toClient[0]).toBe(S + 301); // the client's own ack field: its RCV.NXT
    expect(toServer[0]).toBe(C + 101); // everything the client sent
    for (const s of h.sent) {
      expect(s.pkt.seq).not.toBe(0);
      expect(s.pkt.window).toBe(0);
    }
  });

  test('a challenge ACK after our resets gives the exact number for the next round', () => {
    const h = harness(blockSet());
    h.feed(tcpFrame('c', SYN, C, 0));
    h.feed(tcpFrame('s', SYN | ACK, S, C + 1));
    h.feed(tcpFrame('c', ACK | PSH, C + 1, S + 1, [1, 2, 3]));
    const before = h.sent.length;
    // The server answers an inexact RST with a challenge ACK: seq = its SND.NXT, ack = its RCV.NXT.
    h.feed(tcpFrame('s', ACK, S + 1, C + 4));
    const round = h.sent.slice(before);
    expect(round.find((s) => s.pkt.dstPort === 443)!.pkt.seq).toBe(C + 4);
    expect(round.find((s) => s.pkt.dstPort === 40000)!.pkt.seq).toBe(S + 1);
  });

  test('re-injection is bounded per session, and a peer RST after ours is recorded', () => {
    const h = harness(blockSet(), {}, { maxRounds: 3 });
    h.feed(tcpFrame('c', SYN, C, 0));
    for (let i = 0; i < 10; i++) h.feed(tcpFrame('c', ACK | PSH, C + 1 + i, S + 1, [i]));
    h.feed(tcpFrame('s', RST, S + 1, 0));
    h.engine.finish();
    expect(h.ended[0]!.rounds).toBe(3);
    expect(h.ended[0]!.peerReset).toBe(true);
  });

  test('resets copy the VLAN tags and TTL of the side impersonated, and reuse the MACs of the trigger', () => {
    const h = harness(blockSet());
    h.feed(tcpFrame('c', SYN, C, 0, [], { vlans: [200, 100], ttl: 61 }));
    const toServer = h.sent.find((s) => s.pkt.dstPort === 443)!;
    expect([toServer.pkt.vlanCount, toServer.pkt.vlan0, toServer.pkt.vlan1]).toEqual([2, 200, 100]);
    expect(toServer.pkt.ttl).toBe(61); // impersonating the client: the client's TTL
    expect(Array.from(toServer.frame.subarray(0, 6))).toEqual(B.MAC_B); // to the server's MAC
    const toClient = h.sent.find((s) => s.pkt.dstPort === 40000)!;
    expect(Array.from(toClient.frame.subarray(0, 6))).toEqual(B.MAC_A);
  });

  test('IPv6: an allow CIDR overriding a port block on the same endpoint is logged, nothing sent', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: '[2001:2::2]:80/tcp', action: 'block', source: 'feed' });
    intel.upsert({ indicator: '2001:2::/32', action: 'allow', source: 'soc' });
    const sent: unknown[] = [];
    const ended: MatchRecord[] = [];
    const engine = new Engine({ capacity: 10, intel, sink: { send: () => sent.push(1) }, onMatchEnd: (_t, _s, r) => ended.push(r) });
    const frame = B.ethernet(B.ETH.IPV6, B.ipv6({ src: '2001:2::1', dst: '2001:2::2', next: B.PROTO.TCP, hopLimit: 60 } as never, B.tcp({ sport: 40000, dport: 80, seq: C, flags: SYN })));
    engine.handle(frame, 0, frame.length, frame.length, LinkType.ETHERNET, 1000, 0);
    engine.finish();
    expect(sent).toHaveLength(0);
    expect(ended[0]).toMatchObject({ action: 'allow', guard: 'allowlist', indicator: '2001:2::/32' });
  });

  test('IPv6 sessions get IPv6 resets', () => {
    const h = harness(blockSet('2001:2::2'));
    const frame = B.ethernet(B.ETH.IPV6, B.ipv6({ src: '2001:2::1', dst: '2001:2::2', next: B.PROTO.TCP, hopLimit: 60 } as never, B.tcp({ sport: 40000, dport: 80, seq: C, flags: SYN })));
    h.feed(frame);
    expect(h.sent.map((s) => [s.pkt.ipVersion, s.pkt.tcpFlags])).toEqual([
      [6, RST | ACK],
      [6, RST],
    ]);
  });
});

describe('guards', () => {
  test('allow wins over block whatever the prefix lengths: a broad allow on the same endpoint sends nothing and is logged', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: `${SERVER}:443/tcp`, action: 'block', source: 'feed' });
    intel.upsert({ indicator: '198.18.0.0/16', action: 'allow', source: 'soc' });
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    h.feed(tcpFrame('c', ACK, C + 1, 0));
    h.engine.finish();
    expect(h.sent).toHaveLength(0);
    expect(h.ended[0]).toMatchObject({ action: 'allow', guard: 'allowlist', indicator: '198.18.0.0/16' });
  });

  test('an allow with nothing to override leaves no record (an allowlisted network costs no memory per session)', () => {
    const h = harness(blockSet('198.18.0.0/16', 'allow', 'soc'));
    h.feed(tcpFrame('c', SYN, C, 0));
    h.engine.finish();
    expect(h.ended).toHaveLength(0);
  });

  test('the same indicator blocked by a feed and allowed by an analyst: allow wins, the block is seen as overridden', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: SERVER, action: 'block', source: 'feed' });
    intel.upsert({ indicator: SERVER, action: 'allow', source: 'soc' });
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    h.engine.finish();
    expect(h.sent).toHaveLength(0);
    expect(h.ended[0]).toMatchObject({ action: 'allow', guard: 'allowlist' });
  });

  test('an allowed client talking to a blocked server is not reset, and the override is logged as the allowlist guard', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: `${SERVER}:443/tcp`, action: 'block', source: 'feed' });
    intel.upsert({ indicator: `${CLIENT}/32`, action: 'allow', source: 'soc' });
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    h.engine.finish();
    expect(h.sent).toHaveLength(0);
    expect(h.ended[0]).toMatchObject({ action: 'allow', guard: 'allowlist', matchedSide: 'src' });
  });

  test('monitor mode, monitored sources and monitor entries decide and log but send nothing', () => {
    for (const [intel, guards, guard] of [
      [blockSet(), { monitor: true }, 'monitor_mode'],
      [blockSet(undefined, 'block', 'noisy-feed'), { monitorSources: new Set(['noisy-feed']) }, 'monitor_source'],
      [blockSet(undefined, 'monitor'), {}, null],
    ] as const) {
      const h = harness(intel, guards);
      h.feed(tcpFrame('c', SYN, C, 0));
      h.feed(tcpFrame('c', ACK, C + 1, 0));
      h.engine.finish();
      expect(h.sent).toHaveLength(0);
      expect(h.ended[0]!.guard).toBe(guard);
    }
  });

  test('never-block addresses are never reset', () => {
    const neverBlock = new IntelSet();
    neverBlock.upsert({ indicator: CLIENT, action: 'allow', source: 'never-block' });
    const h = harness(blockSet(), { neverBlock });
    h.feed(tcpFrame('c', SYN, C, 0));
    h.engine.finish();
    expect(h.sent).toHaveLength(0);
    expect(h.ended[0]!.guard).toBe('never_block');
  });

  test('per-target and global rate caps hold back resets', () => {
    const h = harness(blockSet(), { targetRate: 1, targetBurst: 4, circuitBreaker: null });
    for (let i = 0; i < 5; i++) h.feed(tcpFrame('c', SYN, C + i * 1000, 0, [], { sport: 41000 + i }), 0.0001);
    expect(h.sent.length).toBe(4); // two sessions' worth of 2 resets, then the cap
    h.engine.finish();
    expect(h.ended.filter((r) => r.guard === 'rate_target').length).toBe(3);
    const g = harness(blockSet(), { globalRate: 1, globalBurst: 2, circuitBreaker: null });
    g.feed(tcpFrame('c', SYN, C, 0));
    g.feed(tcpFrame('c', SYN, C, 0, [], { sport: 41001 }));
    expect(g.sent.length).toBe(2);
  });

  test('the circuit breaker opens on a surge far above the recent rate, then closes', () => {
    const breaker = new CircuitBreaker({ surgeFactor: 10, minPerSecond: 20, coolDownSeconds: 60, smoothing: 0.1 });
    let t = 1000;
    for (let s = 0; s < 30; s++) for (let i = 0; i < 2; i++) expect(breaker.recordBlock(t + s + i * 0.1)).toBe(false);
    t += 30;
    let open = false;
    for (let i = 0; i < 100; i++) open = breaker.recordBlock(t + i * 0.001) || open;
    expect(open).toBe(true);
    expect(breaker.isOpen(t + 30)).toBe(true);
    expect(breaker.isOpen(t + 61)).toBe(false);
  });
});

describe('hold-down and re-matching', () => {
  test('after a block, a new SYN from the same client to the same service is killed on its first packet', () => {
    const intel = blockSet();
    const h = harness(intel, {}, { holdDownSeconds: 30 });
    h.feed(tcpFrame('c', SYN, C, 0));
    intel.remove('feed', `${SERVER}:443/tcp`);
    const before = h.sent.length;
    h.feed(tcpFrame('c', SYN, 7000, 0, [], { sport: 40001 }));
    expect(h.sent.length).toBe(before + 2);
    // Another client, another port of the server, or after the hold-down: untouched.
    h.feed(tcpFrame('c', SYN, 7000, 0, [], { sport: 40002, client: '198.18.0.9' }));
    h.feed(tcpFrame('c', SYN, 7000, 0, [], { sport: 40003, dport: 8443 }));
    h.feed(tcpFrame('c', SYN, 9000, 0, [], { sport: 40004 }), 31);
    expect(h.sent.length).toBe(before + 2);
    h.engine.finish();
    expect(h.ended.filter((r) => r.indicator === 'hold-down')).toHaveLength(1);
  });

  test('a block removed while its session lives stops the resets, and the record says so', () => {
    const intel = blockSet();
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    const afterFirst = h.sent.length;
    expect(afterFirst).toBe(2);
    intel.remove('feed', `${SERVER}:443/tcp`);
    for (let i = 0; i < 3; i++) h.feed(tcpFrame('c', ACK | PSH, C + 1 + i, S + 1, [i]));
    h.engine.finish();
    expect(h.sent.length).toBe(afterFirst);
    expect(h.ended[0]).toMatchObject({ action: 'block', withdrawn: true, rounds: 1 });
  });

  test('intel changes elsewhere do not re-admit a blocked session through the circuit breaker', () => {
    const intel = blockSet();
    const h = harness(intel, { circuitBreaker: { surgeFactor: 2, minPerSecond: 3, coolDownSeconds: 60, smoothing: 0.1 } });
    h.feed(tcpFrame('c', SYN, C, 0));
    // Five unrelated changes, each followed by a packet of the blocked session: still one admission.
    for (let i = 0; i < 5; i++) {
      intel.upsert({ indicator: `203.0.113.${i}`, action: 'block', source: 'other' });
      h.feed(tcpFrame('c', ACK, C + 1, 0));
    }
    h.engine.finish();
    expect(h.engine.responder!.guards.breaker!.trips).toBe(0);
    expect(h.ended[0]!.guard).toBeNull();
    expect(h.engine.responder!.matches.block).toBe(1);
  });

  test('the hold-down set is bounded and sheds expired pairs', () => {
    const h = harness(blockSet('198.18.0.0/16'), { targetRate: 1e9, targetBurst: 1e9, globalRate: 1e9, globalBurst: 1e9, circuitBreaker: null }, { holdDownSeconds: 1 });
    for (let i = 0; i < 50; i++) h.feed(tcpFrame('c', SYN, C, 0, [], { sport: 30000 + i, dport: 1000 + i }), 0.001);
    expect(h.engine.responder!.holdDownCount).toBe(50);
    h.feed(tcpFrame('c', SYN, C, 0, [], { sport: 40000, dport: 9999 }), 5); // all earlier pairs have expired
    expect(h.engine.responder!.holdDownCount).toBe(1);
  });

  /** A real set whose version is counted from `offset`: a long-lived sensor's four billion changes are not a unit test. */
  function setAtVersion(offset: number): IntelSet {
    class LongLivedSet extends IntelSet {
      override get version(): number {
        return super.version + offset;
      }
    }
    return new LongLivedSet();
  }

  test.each([
    ['a new set', 0],
    ['a set at version 2^32 - 1, which a long-lived sensor reaches', 0xffffffff - 1],
  ])('the verdict is cached, in %s: one lookup per session and intel version, and the first SYN is killed', (_name, offset) => {
    const intel = setAtVersion(offset);
    intel.upsert({ indicator: `${SERVER}:443/tcp`, action: 'block', source: 'feed' });
    if (offset > 0) expect(intel.version).toBe(0xffffffff);
    const h = harness(intel);
    h.feed(tcpFrame('c', SYN, C, 0));
    expect(h.sent).toHaveLength(2); // killed on its first packet
    h.feed(tcpFrame('c', SYN, C, 0, [], { sport: 40002, dport: 8443 })); // no entry: its packets take the settled() path
    for (let i = 0; i < 10; i++) {
      h.feed(tcpFrame('c', ACK, C + 1, 0));
      h.feed(tcpFrame('c', ACK, C + 1, 0, [], { sport: 40002, dport: 8443 }));
    }
    expect(h.engine.sessionsMatched).toBe(2);
    // The next change (at the wrap: version 2^32, 0 in 32 bits) re-matches each session once, on its next packet.
    intel.upsert({ indicator: '198.18.9.8', action: 'block', source: 'feed' });
    for (let i = 0; i < 2; i++) {
      h.feed(tcpFrame('c', ACK, C + 1, 0));
      h.feed(tcpFrame('c', ACK, C + 1, 0, [], { sport: 40002, dport: 8443 }));
    }
    expect(h.engine.sessionsMatched).toBe(4);
    const before = h.sent.length;
    h.feed(tcpFrame('c', SYN, C, 0, [], { sport: 40001 }));
    expect(h.engine.sessionsMatched).toBe(5);
    expect(h.sent).toHaveLength(before + 2);
  });
});

describe('UDP', () => {
  test('blocked IPv6 UDP gets an ICMPv6 administratively-prohibited with a valid pseudo-header checksum', () => {
    const out: Uint8Array[] = [];
    const engine = new Engine({
      capacity: 10,
      intel: blockSet('[2001:2::2]:53/udp'),
      responder: { ...DEFAULT_RESPONDER, udpIcmp: true },
      sink: { send: (f, n) => out.push(f.slice(0, n)) },
    });
    const f = B.ethernet(B.ETH.IPV6, B.ipv6({ src: '2001:2::1', dst: '2001:2::2', next: B.PROTO.UDP, hopLimit: 64 } as never, B.udp({ sport: 5353, dport: 53 }, [1, 2, 3, 4])));
    engine.handle(f, 0, f.length, f.length, LinkType.ETHERNET, 1000, 0);
    expect(out).toHaveLength(1);
    const frame = out[0]!;
    const pkt = new DecodedPacket();
    decodePacket(pkt, frame, 0, frame.length, frame.length, LinkType.ETHERNET);
    expect([pkt.ipVersion, pkt.l4Protocol, pkt.icmpType, pkt.icmpCode]).toEqual([6, 58, 1, 1]);
    // Checksum over the pseudo-header (addresses, length, next header) and the ICMPv6 message must verify.
    const icmp = frame.subarray(14 + 40);
    const pseudo = B.bytes(frame.subarray(14 + 8, 14 + 40), B.u32(icmp.length), [0, 0, 0, 58], icmp);
    expect(B.internetChecksum(pseudo)).toBe(0);
  });


  test('blocked UDP gets an ICMP administratively-prohibited only when asked, rate-capped', () => {
    const udp = () => B.ethIpv4Udp({ src: CLIENT, dst: SERVER, sport: 5000, dport: 41234, payload: [1, 2, 3, 4], eth: { src: B.MAC_A, dst: B.MAC_B } });
    const icmps: Uint8Array[] = [];
    const intel = blockSet(`${SERVER}:41234/udp`);
    const off = harness(intel);
    off.feed(udp());
    expect(off.sent).toHaveLength(0);
    const engine = new Engine({
      capacity: 100,
      intel,
      responder: { ...DEFAULT_RESPONDER, udpIcmp: true, udpIcmpPerSecond: 2 },
      sink: { send: (f, n) => icmps.push(f.slice(0, n)) },
    });
    for (let i = 0; i < 5; i++) {
      const f = udp();
      engine.handle(f, 0, f.length, f.length, LinkType.ETHERNET, 1000, i * 1000);
    }
    expect(icmps).toHaveLength(2);
    const pkt = new DecodedPacket();
    decodePacket(pkt, icmps[0]!, 0, icmps[0]!.length, icmps[0]!.length, LinkType.ETHERNET);
    expect([pkt.icmpType, pkt.icmpCode, pkt.dst3 >>> 0]).toEqual([3, 13, B.ipv4Word(CLIENT)]);
    expect(B.internetChecksum(icmps[0]!, 14 + 20)).toBe(0); // the ICMP checksum verifies
  });
});
