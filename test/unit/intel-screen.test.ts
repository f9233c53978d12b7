import { describe, expect, test } from 'vitest';
import { LinkType } from '../../src/capture/link-type.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { Engine } from '../../src/pipeline/engine.js';
import { SCREEN_WORDS } from '../../src/match/native-screen.js';
import * as B from '../support/packet-builder.js';

/**
 * The native intel screen (native-bindings/src/intel_screen.cc, src/match/native-screen.ts) settles a new session as
 * clean only when no key of the set could apply to either endpoint. These tests drive the same frames through an
 * engine on the native path, whose screen is on, and one on the TypeScript path, which matches every session in
 * SessionMatcher, over sets that hold every kind matchV4 and matchV6 read, keys near every endpoint, expired keys,
 * changes between packets and table growth: every session the screen settles must be one that matchV4/matchV6 find
 * nothing for, and both engines must reach the same verdict for every packet.
 */

const T0 = 1_700_000_000;

function rng(seed: number): () => number {
  return () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0);
}

const v4 = (n: number): string => `198.18.${(n >>> 8) & 15}.${n & 255}`;
const v6 = (n: number): string => `2001:db8::${((n >>> 8) & 15).toString(16)}:${(n & 255).toString(16)}`;
const ACTIONS = ['block', 'block', 'monitor', 'allow'] as const;

/** Keys of every kind, on a 4,096-address space per family, so that random endpoints often sit next to one. */
function addEntries(set: IntelSet, next: () => number, count: number, ttlShare: number, tag: string): void {
  for (let i = 0; i < count; i++) {
    const n = next();
    const a = n & 0xfff;
    const kind = (n >>> 12) % 9;
    const port = [443, 53, 8080][(n >>> 16) % 3]!;
    const proto = ['/tcp', '/udp', ''][(n >>> 18) % 3]!;
    const indicator =
      kind === 0 ? v4(a) :
      kind === 1 ? `${v4(a)}/${16 + ((n >>> 20) % 16)}` :
      kind === 2 ? `${v4(a)}:${port}${proto}` :
      kind === 3 ? v6(a) :
      kind === 4 ? `${v6(a)}/${112 + ((n >>> 20) % 16)}` :
      kind === 5 ? `[${v6(a)}]:${port}${proto}` :
      kind === 6 ? `${v4(a)}/${20 + ((n >>> 20) % 12)}` :
      kind === 7 ? `${v4(a)}` :
      `198.${18 + ((n >>> 21) & 1)}.0.0/${15 + ((n >>> 22) % 2)}`;
    try {
      set.upsert({
        indicator,
        id: `${tag}-${i}`,
        action: ACTIONS[(n >>> 24) & 3],
        source: 'feed',
        expires: (n >>> 26) / 64 < ttlShare ? 30 : null,
      }, { nowSeconds: T0 });
    } catch {
      // host bits set in a CIDR: a bad indicator, skipped as a file loader would
    }
  }
}

interface Pair {
  native: Engine;
  js: Engine;
  feed(frame: Uint8Array, ts: number): { sn: number; sj: number; screenedNow: boolean };
}

function pair(intel: IntelSet): Pair {
  const native = new Engine({ capacity: 20_000, intel, sessionTrack: 'native', sink: { send: () => undefined } });
  const js = new Engine({ capacity: 20_000, intel, sessionTrack: 'js', sink: { send: () => undefined } });
  expect(native.table.trackPath).toBe('native');
  expect(native.screen).not.toBeNull();
  expect(js.screen).toBeNull();
  return {
    native,
    js,
    feed(frame, ts) {
      const before = native.screen!.screened;
      const sec = Math.floor(ts);
      const nsec = Math.round((ts - sec) * 1e9);
      const sn = native.handle(frame, 0, frame.length, frame.length, LinkType.ETHERNET, sec, nsec);
      const sj = js.handle(frame, 0, frame.length, frame.length, LinkType.ETHERNET, sec, nsec);
      return { sn, sj, screenedNow: native.screen!.screened !== before };
    },
  };
}

interface Flow {
  family: 4 | 6;
  client: number;
  server: number;
  sport: number;
  dport: number;
  udp: boolean;
}

function frameOf(f: Flow, reply = false): Uint8Array {
  const src = f.family === 4 ? v4(reply ? f.server : f.client) : v6(reply ? f.server : f.client);
  const dst = f.family === 4 ? v4(reply ? f.client : f.server) : v6(reply ? f.client : f.server);
  const sport = reply ? f.dport : f.sport;
  const dport = reply ? f.sport : f.dport;
  const l4 = f.udp
    ? B.udp({ sport, dport }, [1, 2, 3])
    : B.tcp({ sport, dport, seq: reply ? 5000 : 1000, ack: reply ? 1001 : 0, flags: reply ? B.TCP_FLAGS.SYN | B.TCP_FLAGS.ACK : B.TCP_FLAGS.SYN });
  const proto = f.udp ? B.PROTO.UDP : B.PROTO.TCP;
  return f.family === 4
    ? B.ethernet(B.ETH.IPV4, B.ipv4({ src, dst, proto }, l4))
    : B.ethernet(B.ETH.IPV6, B.ipv6({ src, dst, next: proto }, l4));
}

function randomFlow(next: () => number): Flow {
  const n = next();
  const m = next();
  return {
    family: n & 1 ? 4 : 6,
    client: m & 0xfff,
    server: (m >>> 12) & 0xfff,
    sport: 1024 + (next() % 60000),
    dport: [443, 53, 8080, 22][(n >>> 1) & 3]!,
    udp: ((n >>> 3) & 3) === 0,
  };
}

/** matchV4 / matchV6 of one endpoint of a session in the native engine's table, as SessionMatcher.refresh asks. */
function endpointMatch(engine: Engine, s: number, side: number): number {
  const t = engine.table;
  const intel = engine.matcher!.intel;
  const proto = t.proto(s);
  if (t.isIpv4(s)) return intel.matchV4(t.addressWord(s, side, 3), t.port(s, side), proto);
  return intel.matchV6(t.addressWord(s, side, 0), t.addressWord(s, side, 1), t.addressWord(s, side, 2), t.addressWord(s, side, 3), t.port(s, side), proto);
}

describe('native intel screen', () => {
  test.each([1, 2, 3])('settles only sessions that match nothing, and both paths reach the same verdicts (seed %i)', (seed) => {
    const next = rng(seed * 7919);
    let now = T0;
    const intel = new IntelSet({ clock: () => now });
    addEntries(intel, next, 600, 0.3, 'a');
    while (intel.maintain()); // as a loader does: until then the grown tables' keys are in two arrays, screen off
    const p = pair(intel);
    const flows: Flow[] = [];
    let screened = 0;
    let cleanSeen = 0;
    let ts = T0;
    const check = (f: Flow, reply: boolean): void => {
      ts += 0.001;
      const { sn, sj, screenedNow } = p.feed(frameOf(f, reply), ts);
      expect(sn).toBeGreaterThanOrEqual(0);
      expect(p.native.table.verdict(sn)).toBe(p.js.table.verdict(sj));
      expect(p.native.table.verdictSide(sn)).toBe(p.js.table.verdictSide(sj));
      const clean = endpointMatch(p.native, sn, 0) < 0 && endpointMatch(p.native, sn, 1) < 0;
      if (screenedNow) {
        screened++;
        expect(clean).toBe(true);
      }
      if (p.native.table.lastCreated && clean) cleanSeen++;
    };
    // New flows, with keys near every endpoint.
    for (let i = 0; i < 3000; i++) {
      const f = randomFlow(next);
      flows.push(f);
      check(f, false);
    }
    // A third of the keys expire, but stay in the tables until expire() runs: the screen must not call their
    // endpoints clean (matchV4 checks liveness, the screen only presence).
    now = T0 + 60;
    for (let i = 0; i < 2000; i++) {
      const f = randomFlow(next);
      flows.push(f);
      check(f, false);
    }
    expect(intel.expire(now)).toBeGreaterThan(0);
    // Changes between packets: open sessions are matched again on their next packet, new ones screened.
    addEntries(intel, next, 300, 0, 'b');
    for (let i = 0; i < flows.length; i += 4) check(flows[i]!, true);
    while (intel.maintain());
    for (let i = 2; i < flows.length; i += 4) check(flows[i]!, true);
    for (let i = 0; i < 2000; i++) check(randomFlow(next), false);
    expect(screened).toBeGreaterThan(1000);
    expect(p.native.sessionsMatched).toBe(p.js.sessionsMatched);
    // Nearly every clean session was screened: the rest had an expired key still in a table.
    expect(screened).toBeGreaterThan(cleanSeen * 0.6);
  });

  test('the native side vouches that a session is settled only while the set is as the screen last saw it', () => {
    const intel = new IntelSet({ clock: () => T0 });
    intel.upsert({ indicator: '203.0.113.1', source: 'feed' }, { nowSeconds: T0 });
    const p = pair(intel);
    const warm: Flow = { family: 4, client: 1, server: 2, sport: 40000, dport: 443, udp: false };
    const f: Flow = { family: 4, client: 3, server: 4, sport: 40001, dport: 443, udp: false };
    const g: Flow = { family: 6, client: 5, server: 6, sport: 40002, dport: 53, udp: true };
    let ts = T0;
    let last = -1;
    const send = (flow: Flow, reply = false): boolean => {
      ts += 0.001;
      const { sn, sj } = p.feed(frameOf(flow, reply), ts);
      last = sn;
      expect(p.native.table.verdict(sn)).toBe(p.js.table.verdict(sj));
      expect(p.js.table.lastSettled).toBe(false); // the TypeScript path never vouches
      return p.native.table.lastSettled;
    };
    send(warm); // the screen's first sync happens on the first packet it did not vouch for
    expect(send(f)).toBe(true); // screened as it was created
    expect(send(g)).toBe(true);
    expect(send(f, true)).toBe(true);
    // Any change of entries: no vouching until the engine has synced the screen and matched the session again.
    intel.upsert({ indicator: '203.0.113.2', source: 'feed' }, { nowSeconds: T0 });
    expect(send(f, true)).toBe(false);
    expect(send(f, true)).toBe(true);
    expect(send(g, true)).toBe(false); // matched again on its own next packet
    expect(send(g, true)).toBe(true);
    // A change of layout alone (new arrays, same entries and version) also stops it until the next sync.
    intel.reserve('ipv4', 100_000);
    expect(send(g, true)).toBe(false);
    expect(send(g, true)).toBe(true);
    // An entry that applies: the session gets its verdict, and a session with a verdict is never vouched for.
    intel.upsert({ indicator: v4(4), source: 'feed' }, { nowSeconds: T0 });
    expect(send(f, true)).toBe(false);
    expect(p.native.table.verdict(last)).toBeGreaterThanOrEqual(0);
    expect(send(f, true)).toBe(false);
    expect(send(g, true)).toBe(false);
    expect(send(g, true)).toBe(true);
  });

  test('a growing table turns the screen off until it has drained; verdicts stay the same throughout', () => {
    const next = rng(99);
    const intel = new IntelSet({ clock: () => T0 });
    addEntries(intel, next, 200, 0, 'a');
    while (intel.maintain());
    const p = pair(intel);
    let ts = T0;
    const run = (count: number): void => {
      for (let i = 0; i < count; i++) {
        ts += 0.001;
        const f = randomFlow(next);
        const { sn, sj } = p.feed(frameOf(f), ts);
        expect(p.native.table.verdict(sn)).toBe(p.js.table.verdict(sj));
      }
    };
    run(200);
    expect(p.native.screen!.on).toBe(true);
    // Enough exact keys to grow the exact table; the growth drains over later changes or maintain().
    let grew = false;
    for (let i = 0; i < 5000; i++) {
      intel.upsert({ indicator: `203.0.${(i >>> 8) & 255}.${i & 255}`, source: 'bulk' }, { nowSeconds: T0 });
      if ((i & 255) === 0) {
        run(5);
        if (!p.native.screen!.on) grew = true;
      }
    }
    expect(grew).toBe(true);
    while (intel.maintain(64)) run(1);
    run(50);
    expect(p.native.screen!.on).toBe(true);
    // A reservation replaces the arrays without a change of entries: the screen takes the new ones.
    intel.reserve('ipv4', 200_000);
    run(200);
    expect(p.native.screen!.on).toBe(true);
    const before = p.native.screen!.screened;
    run(200);
    expect(p.native.screen!.screened).toBeGreaterThan(before);
  });

  test('the engine can leave the screen off; the TypeScript path has none', () => {
    const intel = new IntelSet();
    intel.upsert({ indicator: '198.18.0.1' });
    expect(new Engine({ intel, sessionTrack: 'native', intelScreen: false }).screen).toBeNull();
    expect(new Engine({ intel, sessionTrack: 'js' }).screen).toBeNull();
    expect(new Engine({ sessionTrack: 'native' }).screen).toBeNull();
  });

  test('setIntel refuses malformed tables with a TypeError and leaves the screen unloaded', () => {
    const intel = new IntelSet();
    const engine = new Engine({ intel, sessionTrack: 'native' });
    const load = engine.table.nativeIntelScreen!;
    const view = intel.lookupView();
    const good = { ...view, words: new Int32Array(SCREEN_WORDS), epoch: intel.epochWord, screened: new Float64Array(1) };
    expect(() => load(good)).not.toThrow();
    expect(() => load({ ...good, words: new Int32Array(2) })).toThrow(TypeError);
    expect(() => load({ ...good, words: new Int32Array(SCREEN_WORDS - 1) })).toThrow(/words/);
    expect(() => load({ ...good, epoch: new Int32Array(0) })).toThrow(/epoch/);
    expect(() => load({ ...good, epoch: undefined })).toThrow(/epoch/);
    expect(() => load({ ...good, v4: { ...view.v4, capacity: view.v4.capacity * 4 } })).toThrow(/v4\.slots/);
    expect(() => load({ ...good, port4: { ...view.port4, width: 3 } })).toThrow(/width/);
    expect(() => load({ ...good, cidr4: view.cidr4.slice(1) })).toThrow(/cidr4 must hold 32 tables/);
    expect(() => load({ ...good, cidr4: [...view.cidr4.slice(0, 31), { ...view.cidr4[31]!, slots: null }] })).toThrow(/cidr4\[31\]\.slots/);
    expect(() => load({ ...good, cidr6: view.cidr6.slice(1) })).toThrow(/cidr6 must hold 128 tables/);
    expect(() => load(null)).not.toThrow();
  });
});
