import { describe, expect, test } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { Engine } from '../../src/pipeline/engine.js';
import { QuietSessionSweep } from '../../src/pipeline/quiet-session-sweep.js';
import { DEFAULT_GUARDS } from '../../src/respond/guards/guard-policy.js';
import { KillVerifier, type KillOutcome } from '../../src/respond/kill-verifier.js';
import { DEFAULT_RESPONDER } from '../../src/respond/responder.js';
import * as B from '../support/packet-builder.js';

const CLIENT = '198.18.0.1';
const SERVER = '198.18.1.1';
const { SYN, ACK, PSH, RST, FIN } = B.TCP_FLAGS;
const C_ISN = 1000;
const S_ISN = 50000;

function frame(from: 'c' | 's', flags: number, seq: number, ack: number, payload: number[] = []) {
  const c2s = from === 'c';
  return B.ethIpv4Tcp({
    src: c2s ? CLIENT : SERVER, dst: c2s ? SERVER : CLIENT, ttl: 64,
    tcp: { sport: c2s ? 40000 : 443, dport: c2s ? 443 : 40000, seq, ack, flags },
    payload,
    eth: { src: c2s ? B.MAC_A : B.MAC_B, dst: c2s ? B.MAC_B : B.MAC_A },
  });
}

/** An engine as the sensor wires it: the responder's observer is a KillVerifier on a clock the test moves. */
function rig(intel: IntelSet) {
  const sent: DecodedPacket[] = [];
  let wall = 1_800_000_000;
  const outcomes: { outcome: KillOutcome; seconds: number }[] = [];
  const timings = { t2i: [] as number[], i2k: [] as number[] };
  const engine = new Engine({
    capacity: 100, intel, guards: { ...DEFAULT_GUARDS, circuitBreaker: null }, responder: { ...DEFAULT_RESPONDER, maxRounds: 3 },
    sink: {
      send(f, length) {
        const pkt = new DecodedPacket();
        const copy = f.slice(0, length);
        expect(decodePacket(pkt, copy, 0, length, length, LinkType.ETHERNET)).toBe(DecodeResult.flow);
        sent.push(pkt);
      },
    },
  });
  const verifier = new KillVerifier({ silenceSeconds: 0.5, maxRounds: 3, giveUpSeconds: 10 }, () => wall, {
    triggerToInjection: (s) => timings.t2i.push(s),
    injectionToKill: (s) => timings.i2k.push(s),
    outcome: (_s, _r, outcome, seconds) => outcomes.push({ outcome, seconds }),
  });
  engine.responder!.observer = verifier;
  const feed = (f: Uint8Array, advance = 0.0001) => {
    wall += advance;
    return engine.handle(f, 0, f.length, f.length, LinkType.ETHERNET, Math.floor(wall), Math.round((wall % 1) * 1e9));
  };
  return { engine, verifier, sent, outcomes, timings, feed, advance: (s: number) => (wall += s), now: () => wall };
}

/** A handshake and one request/response, then the session goes quiet. */
function openIdleSession(feed: (f: Uint8Array) => number): void {
  feed(frame('c', SYN, C_ISN, 0));
  feed(frame('s', SYN | ACK, S_ISN, C_ISN + 1));
  feed(frame('c', ACK, C_ISN + 1, S_ISN + 1));
  feed(frame('c', PSH | ACK, C_ISN + 1, S_ISN + 1, [1, 2, 3, 4, 5]));
  feed(frame('s', PSH | ACK, S_ISN + 1, C_ISN + 6, [9, 9, 9]));
  feed(frame('c', ACK, C_ISN + 6, S_ISN + 4));
}

describe('kill verification', () => {
  test('a block on the SYN, then the endpoint reset: attempted once, confirmed by the reset, both times recorded', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: SERVER, source: 'test' });
    const r = rig(intel);
    r.feed(frame('c', SYN, C_ISN, 0));
    expect(r.verifier.attempted).toBe(1);
    expect(r.verifier.pendingCount).toBe(1);
    expect(r.timings.t2i).toHaveLength(1);
    r.feed(frame('c', RST, C_ISN + 1, 0), 0.0002);
    expect(r.outcomes).toEqual([{ outcome: 'confirmed_reset', seconds: expect.closeTo(0.0002, 6) }]);
    expect(r.verifier.confirmedByReset).toBe(1);
    expect(r.timings.i2k).toHaveLength(1);
  });

  test('silence after the resets confirms; the session closing with FINs is a failure, not a kill', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: SERVER, source: 'test' });
    const quiet = rig(intel);
    quiet.feed(frame('c', SYN, C_ISN, 0));
    quiet.advance(0.2);
    quiet.verifier.sweep(quiet.engine.responder!.records);
    expect(quiet.outcomes).toHaveLength(0);
    quiet.advance(0.4);
    quiet.verifier.sweep(quiet.engine.responder!.records);
    expect(quiet.outcomes.map((o) => o.outcome)).toEqual(['confirmed_silence']);

    const closed = rig(intel);
    closed.feed(frame('c', SYN, C_ISN, 0));
    closed.feed(frame('s', SYN | ACK, S_ISN, C_ISN + 1));
    closed.feed(frame('c', FIN | ACK, C_ISN + 1, S_ISN + 1));
    closed.advance(1);
    closed.verifier.sweep(closed.engine.responder!.records);
    expect(closed.outcomes.map((o) => o.outcome)).toEqual(['failed']);
    expect(closed.verifier.failed).toBe(1);
  });

  test('life after every round is spent is a failed kill', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: SERVER, source: 'test' });
    const r = rig(intel);
    openIdleSession(r.feed); // rounds on the SYN, the SYN-ACK and the ACK: all 3 spent
    expect(r.engine.responder!.records.values().next().value!.rounds).toBe(3);
    r.feed(frame('s', PSH | ACK, S_ISN + 4, C_ISN + 6, [1]));
    r.advance(1);
    r.verifier.sweep(r.engine.responder!.records);
    expect(r.outcomes.map((o) => o.outcome)).toEqual(['failed']);
  });
});

describe('quiet sessions after an intel change', () => {
  test('the sweep re-matches an idle session, resets it at the tracked numbers and probes both ends', () => {
    const intel = new IntelSet();
    const r = rig(intel);
    openIdleSession(r.feed);
    expect(r.sent).toHaveLength(0);
    intel.upsert({ indicator: SERVER, source: 'test' });
    const sweep = new QuietSessionSweep(r.engine, 10);
    while (sweep.tick(Math.floor(r.now()), 0));
    expect(sweep.acted).toBe(1);
    const resets = r.sent.filter((p) => p.tcpFlags & RST);
    const probes = r.sent.filter((p) => !(p.tcpFlags & RST));
    // To the client: seq = the server's nxt (exact for an idle session); to the server: the client's nxt.
    const toClient = resets.filter((p) => p.dstPort === 40000).map((p) => p.seq >>> 0);
    const toServer = resets.filter((p) => p.dstPort === 443).map((p) => p.seq >>> 0);
    expect(toClient).toContain(S_ISN + 4);
    expect(toServer).toContain(C_ISN + 6);
    expect(resets.every((p) => p.seq !== 0)).toBe(true);
    // Probes: a bare ACK one byte left of each receiver's window draws an ACK with the exact numbers.
    expect(probes.map((p) => [p.dstPort, p.seq >>> 0, p.tcpFlags])).toEqual(expect.arrayContaining([
      [40000, S_ISN + 3, ACK],
      [443, C_ISN + 5, ACK],
    ]));
    expect(r.engine.responder!.probePackets).toBe(2);
    expect(r.verifier.attempted).toBe(1);
    // A second tick at the same version does nothing more.
    const before = r.sent.length;
    sweep.tick(Math.floor(r.now()), 0);
    expect(r.sent.length).toBe(before);

    // The client's stack answers the probe with the exact number it expects (a shifted one, say our tracking
    // missed a segment): the responder re-injects at exactly that number.
    r.sent.length = 0;
    r.feed(frame('c', ACK, C_ISN + 6, S_ISN + 10));
    expect(r.sent.filter((p) => p.tcpFlags & RST && p.dstPort === 40000).map((p) => p.seq >>> 0)).toContain(S_ISN + 10);
  });

  test('a quiet session that is not blocked is left alone, and one without a seen handshake waits for a packet', () => {
    const intel = new IntelSet();
    const r = rig(intel);
    openIdleSession(r.feed);
    intel.upsert({ indicator: '198.18.9.9', source: 'test' });
    const sweep = new QuietSessionSweep(r.engine);
    sweep.tick(0, 0);
    expect(r.sent).toHaveLength(0);

    const late = rig(new IntelSet());
    late.feed(frame('c', PSH | ACK, C_ISN + 1, S_ISN + 1, [1, 2])); // joined mid-stream: ISNs unknown
    late.engine.matcher!.intel.upsert({ indicator: SERVER, source: 'test' });
    new QuietSessionSweep(late.engine).tick(0, 0);
    expect(late.sent).toHaveLength(0);
  });
});
