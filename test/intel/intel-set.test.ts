import { describe, expect, it } from 'vitest';
import { IntelSet } from '../../src/intel/intel-set.js';
import { parseIndicator } from '../../src/intel/indicator.js';
import { decideSession } from '../../src/intel/precedence.js';
import { IndicatorError } from '../../src/intel/errors.js';
import { mask4, maskWord6, pick, prng, randInt, randU32, v4Text, v6Text } from './helpers.js';

type Action = 'block' | 'monitor' | 'allow';
const RANK: Record<Action, number> = { monitor: 1, block: 2, allow: 3 };

/** One entry of the naive reference model. */
interface ModelEntry {
  source: string;
  id: string;
  family: 4 | 6;
  words: number[]; // 1 word (v4) or 4 words (v6), network address
  len: number;
  port: number; // 0 = none
  proto: 0 | 6 | 17; // 0 = any
  action: Action;
  expires: number; // 0 = never
  text: string;
}

/** Specificity of an entry for one endpoint: port+proto > port > exact address > longer prefix. */
function specificity(e: { len: number; port: number; proto: number; family: number }): number {
  const full = e.family === 4 ? 32 : 128;
  if (e.port !== 0) return e.proto !== 0 ? 1002 : 1001;
  return e.len === full ? 1000 : e.len;
}

function covers(e: ModelEntry, words: number[], port: number, proto: number): boolean {
  for (let w = 0; w < words.length; w++) {
    const m = e.family === 4 ? mask4(e.len) : maskWord6(e.len, w);
    if (((words[w]! & m) >>> 0) !== e.words[w]) return false;
  }
  if (e.port !== 0 && (port !== e.port || (e.proto !== 0 && e.proto !== proto))) return false;
  return true;
}

/** Linear-scan reference: the expected (action, specificity) for one endpoint, or null. */
function naiveMatch(model: Iterable<ModelEntry>, family: 4 | 6, words: number[], port: number, proto: number, now: number): { action: Action; spec: number } | null {
  let bestAllow = -1;
  let bestDeny = -1;
  let denyAction: Action = 'monitor';
  for (const e of model) {
    if (e.family !== family) continue;
    if (e.expires !== 0 && e.expires <= now) continue;
    if (!covers(e, words, port, proto)) continue;
    const spec = specificity(e);
    if (e.action === 'allow') bestAllow = Math.max(bestAllow, spec);
    else if (spec > bestDeny || (spec === bestDeny && RANK[e.action] > RANK[denyAction])) {
      bestDeny = spec;
      denyAction = e.action;
    }
  }
  if (bestAllow >= 0) return { action: 'allow', spec: bestAllow };
  if (bestDeny >= 0) return { action: denyAction, spec: bestDeny };
  return null;
}

/** What the set returned, in the same terms, after checking the entry really covers the endpoint. */
function describeHandle(set: IntelSet, handle: number, family: 4 | 6, words: number[], port: number, proto: number): { action: Action; spec: number } | null {
  if (handle < 0) return null;
  const p = parseIndicator(set.indicatorOf(handle));
  const e: ModelEntry = {
    source: '', id: '', family: p.family as 4 | 6, words: p.family === 4 ? [p.v4] : [...p.v6!], len: p.prefixLength,
    port: p.port, proto: p.protocol === 'tcp' ? 6 : p.protocol === 'udp' ? 17 : 0, action: set.actionOf(handle), expires: 0, text: p.text,
  };
  expect(e.family).toBe(family);
  expect(covers(e, words, port, proto), `${p.text} returned for ${words} port ${port}`).toBe(true);
  return { action: e.action, spec: specificity(e) };
}

/** Random prefixes around a few bases, so that prefixes nest and overlap the way real feeds do. */
function randomEntry(rand: () => number, family: 4 | 6, bases: number[][], now: number): ModelEntry {
  const base = pick(rand, bases);
  const full = family === 4 ? 32 : 128;
  const r = rand();
  let len = r < 0.3 ? full : r < 0.45 ? randInt(rand, 9) : randInt(rand, full + 1);
  if (family === 6 && r >= 0.45 && rand() < 0.5) len = 16 + randInt(rand, 64);
  // Jitter the low bits so that prefixes are not all nested.
  const words = base.map((w, i) => {
    const m = family === 4 ? mask4(len) : maskWord6(len, i);
    const jitter = rand() < 0.5 ? randU32(rand) : w;
    return (((w & m) | (jitter & ~m & (rand() < 0.5 ? 0xff : 0xffffffff))) & m) >>> 0;
  });
  const hasPort = len === full && rand() < 0.25;
  const port = hasPort ? pick(rand, [53, 80, 443, 8443]) : 0;
  const proto = hasPort ? pick(rand, [0, 6, 17] as const) : 0;
  // Broad allows would shadow everything: keep them rare, as in real deployments.
  const allowChance = len >= full - 8 ? 0.25 : 0.03;
  const action: Action = rand() < allowChance ? 'allow' : rand() < 0.6 ? 'block' : 'monitor';
  const expires = rand() < 0.3 ? now + 1 + randInt(rand, 100) : 0;
  const addr = family === 4 ? v4Text(words[0]!) : v6Text(words);
  let text: string;
  if (hasPort) text = `${family === 4 ? addr : `[${addr}]`}:${port}${proto === 6 ? '/tcp' : proto === 17 ? '/udp' : ''}`;
  else text = len === full ? addr : `${addr}/${len}`;
  const source = pick(rand, ['feed-a', 'feed-b', 'soc']);
  const id = rand() < 0.2 ? `id-${randInt(rand, 50)}` : parseIndicator(text).text;
  return { source, id, family, words, len, port, proto, action, expires, text };
}

function randomProbe(rand: () => number, bases: number[][]): { words: number[]; port: number; proto: number } {
  const base = pick(rand, bases);
  const words = base.map((w) => {
    const r = rand();
    // Mostly near the bases (to hit nested prefixes), sometimes anywhere.
    return (r < 0.4 ? w : r < 0.8 ? (w ^ randInt(rand, 1 << randInt(rand, 17))) : randU32(rand)) >>> 0;
  });
  return { words, port: pick(rand, [0, 53, 80, 443, 8443, 9999]), proto: pick(rand, [0, 6, 17, 1]) };
}

function runLpmScenario(family: 4 | 6, seed: number): void {
  const rand = prng(seed);
  let now = 10_000;
  const set = new IntelSet({ clock: () => now });
  const model = new Map<string, ModelEntry>();
  const width = family === 4 ? 1 : 4;
  const bases = Array.from({ length: 6 }, () => Array.from({ length: width }, () => randU32(rand)));
  let checks = 0;
  const seen = new Set<string>();
  for (let round = 0; round < 40; round++) {
    // A burst of changes: upserts (new or replacing an identity), removes by identity, removes by handle.
    for (let c = 0; c < 60; c++) {
      const r = rand();
      if (r < 0.65 || model.size === 0) {
        const e = randomEntry(rand, family, bases, now);
        const before = set.version;
        set.upsert({ indicator: e.text, id: e.id, source: e.source, action: e.action, expires: e.expires === 0 ? undefined : e.expires - now });
        expect(set.version).toBe(before + 1);
        model.set(`${e.source}\u0000${e.id}`, e);
      } else {
        const keys = [...model.keys()];
        const key = pick(rand, keys);
        const e = model.get(key)!;
        const before = set.version;
        if (rand() < 0.5) {
          expect(set.remove(e.source, e.id)).toBe(true);
        } else {
          const handle = set.find(e.source, e.id);
          expect(handle).toBeGreaterThanOrEqual(0);
          expect(set.removeHandle(handle)).toBe(true);
        }
        expect(set.version).toBe(before + 1);
        model.delete(key);
      }
    }
    // Sometimes let time pass, sometimes run expire().
    if (rand() < 0.5) now += randInt(rand, 30);
    if (rand() < 0.3) {
      const due = [...model.entries()].filter(([, e]) => e.expires !== 0 && e.expires <= now);
      const before = set.version;
      expect(set.expire(now)).toBe(due.length);
      expect(set.version).toBe(before + due.length);
      for (const [key] of due) model.delete(key);
    }
    expect(set.size).toBe(model.size);
    const entries = [...model.values()];
    for (let q = 0; q < 150; q++) {
      const probe = randomProbe(rand, bases);
      // Sometimes probe exactly an entry's address, to exercise exact and port hits.
      if (q % 3 === 0 && entries.length > 0) {
        const e = pick(rand, entries);
        probe.words = [...e.words];
        if (e.port !== 0) probe.port = e.port;
      }
      const w = probe.words;
      const handle = family === 4
        ? set.matchV4(w[0]!, probe.port, probe.proto)
        : set.matchV6(w[0]!, w[1]!, w[2]!, w[3]!, probe.port, probe.proto);
      const expected = naiveMatch(entries, family, w, probe.port, probe.proto, now);
      const got = describeHandle(set, handle, family, w, probe.port, probe.proto);
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        throw new Error(`seed ${seed} round ${round}: ${w.join(',')} port ${probe.port} proto ${probe.proto}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)} (${handle >= 0 ? set.indicatorOf(handle) : '-'})`);
      }
      checks++;
      seen.add(expected === null ? 'none' : `${expected.action}:${expected.spec > 1000 ? 'port' : expected.spec === 1000 ? 'exact' : 'cidr'}`);
    }
  }
  expect(checks).toBe(40 * 150);
  // The random data must exercise every outcome, or a passing run proves little.
  for (const outcome of seen) outcomes[family].add(outcome);
  // Order independence of the digest: the same entries added in reverse order give the same digest.
  const again = new IntelSet({ clock: () => now });
  for (const e of [...model.values()].reverse()) {
    again.upsert({ indicator: e.text, id: e.id, source: e.source, action: e.action, expires: e.expires === 0 ? undefined : e.expires }, { nowSeconds: 0 });
  }
  expect(again.size).toBe(set.size);
  expect(again.digest()).toBe(set.digest());
}

const outcomes = { 4: new Set<string>(), 6: new Set<string>() };

describe('longest-prefix match against a linear-scan reference (random, seeded)', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`IPv4, seed ${seed}`, () => runLpmScenario(4, seed));
    it(`IPv6, seed ${seed}`, () => runLpmScenario(6, 1000 + seed));
  }
  it('the random data exercised every outcome (else a pass would prove little)', () => {
    const all = ['allow:cidr', 'allow:exact', 'allow:port', 'block:cidr', 'block:exact', 'block:port', 'monitor:cidr', 'monitor:exact', 'monitor:port', 'none'];
    expect([...outcomes[4]].sort()).toEqual(all);
    expect([...outcomes[6]].sort()).toEqual(all);
  });
});

describe('precedence: allow always wins', () => {
  const ip = (t: string) => parseIndicator(t).v4;
  const v6 = (t: string) => [...parseIndicator(t).v6!] as [number, number, number, number];

  it('allow /8 beats block /32', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '10.1.2.3', action: 'block', source: 'feed' });
    set.upsert({ indicator: '10.0.0.0/8', action: 'allow', source: 'assets' });
    const h = set.matchV4(ip('10.1.2.3'));
    expect(set.actionOf(h)).toBe('allow');
    expect(set.indicatorOf(h)).toBe('10.0.0.0/8');
    expect(set.kindOf(h)).toBe('cidr4');
    expect(set.prefixLengthOf(h)).toBe(8);
  });

  it('allow /0 beats everything, and the most specific allow is reported', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.5:443/tcp', action: 'block' });
    set.upsert({ indicator: '0.0.0.0/0', action: 'allow' });
    set.upsert({ indicator: '198.18.0.0/16', action: 'allow' });
    expect(set.indicatorOf(set.matchV4(ip('198.18.0.5'), 443, 6))).toBe('198.18.0.0/16');
    expect(set.indicatorOf(set.matchV4(ip('1.1.1.1'), 443, 6))).toBe('0.0.0.0/0');
  });

  it('allow on the address beats block on its port, and allow on a port beats block on the address', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.5:443/tcp', action: 'block' });
    set.upsert({ indicator: '198.18.0.5', action: 'allow', source: 'assets' });
    expect(set.actionOf(set.matchV4(ip('198.18.0.5'), 443, 6))).toBe('allow');
    const set2 = new IntelSet();
    set2.upsert({ indicator: '198.18.0.0/16', action: 'block' });
    set2.upsert({ indicator: '198.18.0.5', action: 'block' });
    set2.upsert({ indicator: '198.18.0.5:25', action: 'allow' });
    expect(set2.actionOf(set2.matchV4(ip('198.18.0.5'), 25, 6))).toBe('allow');
    expect(set2.actionOf(set2.matchV4(ip('198.18.0.5'), 25, 17))).toBe('allow');
    expect(set2.indicatorOf(set2.matchV4(ip('198.18.0.5'), 26, 6))).toBe('198.18.0.5');
    expect(set2.indicatorOf(set2.matchV4(ip('198.18.0.6'), 25, 6))).toBe('198.18.0.0/16');
  });

  it('same indicator from two sources: allow wins; removing the allow restores the block', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.5', action: 'block', source: 'feed' });
    set.upsert({ indicator: '198.18.0.5', action: 'allow', source: 'assets' });
    set.upsert({ indicator: '198.18.0.5', action: 'monitor', source: 'other' });
    expect(set.size).toBe(3);
    expect(set.actionOf(set.matchV4(ip('198.18.0.5')))).toBe('allow');
    expect(set.remove('assets', '198.18.0.5')).toBe(true);
    const h = set.matchV4(ip('198.18.0.5'));
    expect(set.actionOf(h)).toBe('block');
    expect(set.sourceOf(h)).toBe('feed');
    expect(set.remove('feed', '198.18.0.5')).toBe(true);
    expect(set.actionOf(set.matchV4(ip('198.18.0.5')))).toBe('monitor');
  });

  it('otherwise the most specific deny decides: port+proto > port > address > longer prefix', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.0/15', action: 'block' });
    set.upsert({ indicator: '198.18.0.0/24', action: 'monitor' });
    set.upsert({ indicator: '198.18.0.5', action: 'block' });
    set.upsert({ indicator: '198.18.0.5:443', action: 'monitor' });
    set.upsert({ indicator: '198.18.0.5:443/udp', action: 'block' });
    expect(set.indicatorOf(set.matchV4(ip('198.18.0.5'), 443, 17))).toBe('198.18.0.5:443/udp');
    expect(set.indicatorOf(set.matchV4(ip('198.18.0.5'), 443, 6))).toBe('198.18.0.5:443');
    expect(set.protocolOf(set.matchV4(ip('198.18.0.5'), 443, 17))).toBe('udp');
    expect(set.portOf(set.matchV4(ip('198.18.0.5'), 443, 6))).toBe(443);
    expect(set.indicatorOf(set.matchV4(ip('198.18.0.5'), 80, 6))).toBe('198.18.0.5');
    expect(set.indicatorOf(set.matchV4(ip('198.18.0.5')))).toBe('198.18.0.5');
    expect(set.indicatorOf(set.matchV4(ip('198.18.0.9')))).toBe('198.18.0.0/24');
    expect(set.actionOf(set.matchV4(ip('198.18.0.9')))).toBe('monitor');
    expect(set.indicatorOf(set.matchV4(ip('198.19.255.255')))).toBe('198.18.0.0/15');
    expect(set.matchV4(ip('198.20.0.0'))).toBe(-1);
  });

  it('works the same for IPv6', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '2001:db8::1', action: 'block' });
    set.upsert({ indicator: '[2001:db8::1]:53/udp', action: 'block' });
    set.upsert({ indicator: '2001:db8::/32', action: 'monitor' });
    set.upsert({ indicator: '2001::/16', action: 'allow' });
    const a = v6('2001:db8::1');
    expect(set.actionOf(set.matchV6(...a, 53, 17))).toBe('allow');
    set.remove('manual', '2001::/16');
    expect(set.indicatorOf(set.matchV6(...a, 53, 17))).toBe('[2001:db8::1]:53/udp');
    expect(set.indicatorOf(set.matchV6(...a, 53, 6))).toBe('2001:db8::1');
    expect(set.indicatorOf(set.matchV6(...v6('2001:db8::2')))).toBe('2001:db8::/32');
    expect(set.matchV6(...v6('2002::1'))).toBe(-1);
    expect(set.matchV6Words(new Uint32Array(a))).toBe(set.matchV6(...a));
  });

  it('decideSession: allow on either side wins, then block over monitor', () => {
    const set = new IntelSet();
    const allow = set.upsert({ indicator: '10.0.0.1', action: 'allow' });
    const block = set.upsert({ indicator: '198.18.0.5', action: 'block' });
    const monitor = set.upsert({ indicator: '198.18.0.6', action: 'monitor' });
    expect(decideSession(set, block, allow)).toBe(allow);
    expect(decideSession(set, allow, block)).toBe(allow);
    expect(decideSession(set, monitor, block)).toBe(block);
    expect(decideSession(set, block, monitor)).toBe(block);
    expect(decideSession(set, -1, monitor)).toBe(monitor);
    expect(decideSession(set, monitor, -1)).toBe(monitor);
    expect(decideSession(set, -1, -1)).toBe(-1);
  });
});

describe('identity, updates and versions', () => {
  it('upsert of the same (source, id) replaces; another source adds', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.5', action: 'block', reason: 'first' });
    set.upsert({ indicator: '198.18.0.5', action: 'monitor', reason: 'second' });
    expect(set.size).toBe(1);
    const h = set.matchV4(parseIndicator('198.18.0.5').v4);
    expect(set.reasonOf(h)).toBe('second');
    set.upsert({ indicator: '198.18.0.5', source: 'other' });
    expect(set.size).toBe(2);
  });

  it('explicit ids: moving an id to another indicator removes the old one', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.5', id: 'ioc-1', source: 'feed' });
    set.upsert({ indicator: '198.18.0.6', id: 'ioc-1', source: 'feed' });
    expect(set.size).toBe(1);
    expect(set.matchV4(parseIndicator('198.18.0.5').v4)).toBe(-1);
    const h = set.matchV4(parseIndicator('198.18.0.6').v4);
    expect(set.idOf(h)).toBe('ioc-1');
    expect(set.find('feed', 'ioc-1')).toBe(h);
    expect(set.remove('feed', 'ioc-1')).toBe(true);
    expect(set.size).toBe(0);
  });

  it('an explicit id that looks like another indicator does not collide with it', () => {
    const set = new IntelSet();
    set.upsert({ indicator: '198.18.0.5', id: '198.18.0.9' });
    set.upsert({ indicator: '198.18.0.7' });
    expect(set.size).toBe(2);
    expect(set.indicatorOf(set.find('manual', '198.18.0.9'))).toBe('198.18.0.5');
    expect(set.indicatorOf(set.find('manual', '198.18.0.7'))).toBe('198.18.0.7');
    expect(set.find('manual', '198.18.0.5')).toBe(-1);
  });

  it('an explicit id equal to an entry\'s canonical indicator text is that entry\'s identity; other ids never are', () => {
    const set = new IntelSet();
    set.upsert({ indicator: 'Evil.Example.com', source: 'feed' }); // default id: the canonical text, lowercased
    set.upsert({ indicator: '198.18.0.5', id: 'EVIL.EXAMPLE.COM', source: 'feed' }); // not canonical: its own identity
    expect(set.size).toBe(2);
    set.upsert({ indicator: '198.18.0.6', id: 'evil.example.com', source: 'feed' }); // canonical: replaces the domain
    expect(set.size).toBe(2);
    expect(set.indicatorOf(set.find('feed', 'evil.example.com'))).toBe('198.18.0.6');
    expect(set.indicatorOf(set.find('feed', 'EVIL.EXAMPLE.COM'))).toBe('198.18.0.5');
  });

  it('keeps every explicit id through churn: removes, reused entry slots, ids per source', () => {
    const set = new IntelSet();
    const rand = prng(77);
    const live = new Map<string, string>(); // source \t id -> indicator
    for (let round = 0; round < 4000; round++) {
      const source = `feed-${randInt(rand, 3)}`;
      const id = `ioc-${randInt(rand, 500)}`;
      const key = `${source}\t${id}`;
      if (rand() < 0.35) {
        expect(set.remove(source, id)).toBe(live.delete(key));
      } else {
        const indicator = `198.18.${randInt(rand, 4)}.${randInt(rand, 256)}`;
        set.upsert({ indicator, id, source });
        live.set(key, indicator);
      }
    }
    expect(set.size).toBe(live.size);
    for (const [key, indicator] of live) {
      const [source, id] = key.split('\t') as [string, string];
      const h = set.find(source, id);
      expect(set.indicatorOf(h)).toBe(indicator);
      expect(set.idOf(h)).toBe(id);
      expect(set.sourceOf(h)).toBe(source);
    }
  });

  it('version increases by one on each change and not on failures or no-ops', () => {
    let now = 100;
    const set = new IntelSet({ clock: () => now });
    expect(set.version).toBe(0);
    set.upsert({ indicator: '1.2.3.4', expires: 10 });
    expect(set.version).toBe(1);
    set.upsert({ indicator: '1.2.3.4', action: 'monitor', expires: 10 });
    expect(set.version).toBe(2);
    expect(() => set.upsert({ indicator: '1.2.3.999' })).toThrow(IndicatorError);
    expect(set.version).toBe(2);
    expect(set.remove('manual', '5.5.5.5')).toBe(false);
    expect(set.remove('nobody', '1.2.3.4')).toBe(false);
    expect(set.version).toBe(2);
    now = 200;
    expect(set.expire()).toBe(1);
    expect(set.version).toBe(3);
    expect(set.expire()).toBe(0);
    expect(set.version).toBe(3);
  });

  it('reads metadata through accessors and entry views', () => {
    const set = new IntelSet({ clock: () => 1000 });
    const h = set.upsert({ indicator: '[2001:db8::1]:443/tcp', source: 'feed', reason: 'c2 server', tags: 'c2|botnet', expires: '1h', action: 'block' });
    expect(set.entry(h)).toEqual({
      handle: h, id: '[2001:db8::1]:443/tcp', source: 'feed', indicator: '[2001:db8::1]:443/tcp', kind: 'ip-port', action: 'block',
      expiresAt: 4600, reason: 'c2 server', tags: ['botnet', 'c2'],
    });
    expect(set.isLive(h)).toBe(true);
    expect(set.isLive(-1)).toBe(false);
    expect(set.isLive(h + 1)).toBe(false);
    const d = set.upsert({ indicator: 'Bad.Example.' });
    expect(set.matchDomain('bad.example')).toBe(d);
    expect(set.kindOf(d)).toBe('domain');
    expect([...set.entries()].map((e) => e.indicator).sort()).toEqual(['[2001:db8::1]:443/tcp', 'bad.example']);
  });

  it('counts entries by kind and action', () => {
    const set = new IntelSet();
    for (const [indicator, action] of [
      ['1.2.3.4', 'block'], ['1.2.3.5', 'allow'], ['::1', 'monitor'], ['10.0.0.0/8', 'block'], ['2001:db8::/32', 'block'],
      ['1.2.3.4:80', 'block'], ['[::1]:80/udp', 'monitor'], ['example.com', 'block'],
    ] as const) set.upsert({ indicator, action });
    const c = set.counts();
    expect(c.total).toBe(8);
    expect(c.byKind).toEqual({ ipv4: 2, ipv6: 1, cidr4: 1, cidr6: 1, 'ip-port': 2, domain: 1 });
    expect(c.byAction).toEqual({ block: 5, monitor: 2, allow: 1 });
    expect(c.byKindAndAction['ip-port']).toEqual({ block: 1, monitor: 1, allow: 0 });
  });

  it('the digest changes with content, returns when content returns, and ignores order', () => {
    const a = new IntelSet();
    const b = new IntelSet();
    const empty = a.digest();
    a.upsert({ indicator: '1.2.3.4', reason: 'x' });
    const one = a.digest();
    expect(one).not.toBe(empty);
    a.upsert({ indicator: '1.2.3.4', reason: 'y' });
    expect(a.digest()).not.toBe(one);
    a.upsert({ indicator: '1.2.3.4', reason: 'x' });
    expect(a.digest()).toBe(one);
    a.upsert({ indicator: '10.0.0.0/8', tags: ['t'] });
    b.upsert({ indicator: '10.0.0.0/8', tags: ['t'] });
    expect(b.digest()).not.toBe(a.digest());
    b.upsert({ indicator: '1.2.3.4', reason: 'x' });
    expect(b.digest()).toBe(a.digest());
    a.remove('manual', '10.0.0.0/8');
    expect(a.digest()).toBe(one);
    a.remove('manual', '1.2.3.4');
    expect(a.digest()).toBe(empty);
  });
});

describe('exact-only sets (single-probe path)', () => {
  it('IPv4 and IPv6 exact entries match, expire lazily, and ports are ignored when no port entries exist', () => {
    let now = 100;
    const set = new IntelSet({ clock: () => now });
    set.upsert({ indicator: '198.18.0.5', expires: 10 });
    set.upsert({ indicator: '2001:db8::5', action: 'monitor', expires: 20 });
    const a = parseIndicator('198.18.0.5').v4;
    const b = [...parseIndicator('2001:db8::5').v6!] as [number, number, number, number];
    expect(set.indicatorOf(set.matchV4(a, 443, 6))).toBe('198.18.0.5');
    expect(set.indicatorOf(set.matchV6(...b, 53, 17))).toBe('2001:db8::5');
    expect(set.matchV4(a + 1)).toBe(-1);
    expect(set.matchV6(b[0], b[1], b[2], b[3] + 1)).toBe(-1);
    now = 110;
    expect(set.matchV4(a)).toBe(-1);
    expect(set.actionOf(set.matchV6(...b))).toBe('monitor');
    expect(set.matchV6(...b, 0, 0, 120)).toBe(-1);
    // Adding a port entry switches to the general path; results stay the same for other ports.
    set.upsert({ indicator: '[2001:db8::5]:53/udp', action: 'block' });
    expect(set.actionOf(set.matchV6(...b, 53, 17))).toBe('block');
    expect(set.actionOf(set.matchV6(...b, 80, 6))).toBe('monitor');
  });
});

describe('per-/16 routing of IPv4 lookups (route16)', () => {
  it('a /16 takes the single-probe path only while no CIDR covers it and no port entry lies in it', () => {
    const set = new IntelSet({ clock: () => 100 });
    const ip = (text: string): number => parseIndicator(text).v4;
    const match = (text: string, port = 443, proto = 6): string | null => {
      const h = set.matchV4(ip(text), port, proto);
      return h < 0 ? null : `${set.actionOf(h)} ${set.indicatorOf(h)}`;
    };
    set.upsert({ indicator: '198.18.1.1' });
    set.upsert({ indicator: '198.19.0.0/24' });
    set.upsert({ indicator: '203.0.113.9' });
    set.upsert({ indicator: '203.0.113.5:443/tcp' });
    // Exact entries in a /16 of their own, in a set that has CIDRs and port entries elsewhere.
    expect(match('198.18.1.1')).toBe('block 198.18.1.1');
    expect(match('198.18.1.2')).toBe(null);
    expect(match('198.19.0.7')).toBe('block 198.19.0.0/24');
    expect(match('198.19.1.7')).toBe(null);
    expect(match('192.0.2.1')).toBe(null); // a /16 with nothing in it
    // A port entry shares 203.0.113.0/16 with an exact entry: both are found.
    expect(match('203.0.113.9')).toBe('block 203.0.113.9');
    expect(match('203.0.113.5')).toBe('block 203.0.113.5:443/tcp');
    expect(match('203.0.113.5', 80)).toBe(null);
    // A CIDR shorter than /16 that covers an exact-only /16 turns it general: the allow must win there.
    set.upsert({ indicator: '198.0.0.0/8', action: 'allow' });
    expect(match('198.18.1.1')).toBe('allow 198.0.0.0/8');
    expect(match('198.18.1.2')).toBe('allow 198.0.0.0/8');
    expect(set.remove('manual', '198.0.0.0/8')).toBe(true);
    expect(match('198.18.1.1')).toBe('block 198.18.1.1');
    expect(match('198.18.1.2')).toBe(null);
    // A port entry added in an exact-only /16 is found; removed, the exact entry alone answers again.
    set.upsert({ indicator: '198.18.1.1:22', action: 'allow' });
    expect(match('198.18.1.1', 22)).toBe('allow 198.18.1.1:22');
    expect(match('198.18.1.1', 443)).toBe('block 198.18.1.1');
    expect(set.remove('manual', '198.18.1.1:22')).toBe(true);
    expect(match('198.18.1.1', 22)).toBe('block 198.18.1.1');
    // /0 covers every /16, including those with nothing else in them.
    set.upsert({ indicator: '0.0.0.0/0', action: 'monitor' });
    expect(match('192.0.2.1')).toBe('monitor 0.0.0.0/0');
    expect(match('198.18.1.1')).toBe('block 198.18.1.1');
    expect(set.remove('manual', '0.0.0.0/0')).toBe(true);
    expect(match('192.0.2.1')).toBe(null);
    // Removing the last entry of a /16 leaves nothing to find there.
    expect(set.remove('manual', '203.0.113.9')).toBe(true);
    expect(match('203.0.113.9')).toBe(null);
    expect(match('203.0.113.5')).toBe('block 203.0.113.5:443/tcp');
  });
});

describe('incremental growth', () => {
  it('lookups stay right while tables grow and while maintain() drains them in slices', () => {
    const set = new IntelSet();
    const ips: number[] = [];
    // Add until some table is caught half-way through a growth (maintain(0) reports it without doing work).
    for (let i = 0; i < 200000 && (i < 20000 || !set.maintain(0)); i++) {
      const ip = (i * 2654435761) >>> 0;
      ips.push(ip);
      set.upsert({ indicator: v4Text(ip), action: i % 3 === 0 ? 'monitor' : 'block' });
      set.upsert({ indicator: `${v4Text((ip & 0xffffff00) >>> 0)}/24`, source: 'cidrs' });
    }
    const check = (): number => ips.filter((ip, i) => set.actionOf(set.matchV4(ip)) !== (i % 3 === 0 ? 'monitor' : 'block')).length;
    expect(check()).toBe(0);
    let slices = 0;
    while (set.maintain(64)) {
      slices++;
      if (slices % 50 === 0) expect(check()).toBe(0);
    }
    expect(slices).toBeGreaterThan(0);
    expect(set.maintain()).toBe(false);
    expect(check()).toBe(0);
  });
});

describe('expiry', () => {
  it('entries stop matching exactly at their expiry, before and after expire() runs', () => {
    let now = 1000;
    const set = new IntelSet({ clock: () => now });
    set.upsert({ indicator: '198.18.0.5', expires: 100 }); // until 1100
    set.upsert({ indicator: '198.18.0.0/16', expires: '200s' }); // until 1200
    set.upsert({ indicator: '198.18.0.7' }); // never
    const a = parseIndicator('198.18.0.5').v4;
    expect(set.indicatorOf(set.matchV4(a))).toBe('198.18.0.5');
    expect(set.indicatorOf(set.matchV4(a, 0, 0, 1099))).toBe('198.18.0.5');
    expect(set.indicatorOf(set.matchV4(a, 0, 0, 1100))).toBe('198.18.0.0/16');
    now = 1100; // lazily: expire() has not run
    expect(set.indicatorOf(set.matchV4(a))).toBe('198.18.0.0/16');
    now = 1200;
    expect(set.matchV4(a)).toBe(-1);
    expect(set.size).toBe(3);
    expect(set.nextExpiry()).toBe(1100);
    expect(set.expire(1150)).toBe(1);
    expect(set.size).toBe(2);
    expect(set.nextExpiry()).toBe(1200);
    expect(set.expire()).toBe(1);
    expect(set.size).toBe(1);
    expect(set.nextExpiry()).toBe(0);
    expect(set.indicatorOf(set.matchV4(parseIndicator('198.18.0.7').v4))).toBe('198.18.0.7');
  });

  it('an expired allow no longer protects, and an expired primary falls back to a live entry of the same key', () => {
    let now = 1000;
    const set = new IntelSet({ clock: () => now });
    set.upsert({ indicator: '198.18.0.5', action: 'allow', source: 'assets', expires: 60 });
    set.upsert({ indicator: '198.18.0.5', action: 'monitor', source: 'feed' });
    const a = parseIndicator('198.18.0.5').v4;
    expect(set.actionOf(set.matchV4(a))).toBe('allow');
    now = 1060;
    expect(set.actionOf(set.matchV4(a))).toBe('monitor');
    set.expire();
    expect(set.actionOf(set.matchV4(a))).toBe('monitor');
    expect(set.size).toBe(1);
  });

  it('removed and re-added entries do not confuse the expiry index', () => {
    const set = new IntelSet({ clock: () => 0 });
    for (let i = 0; i < 20000; i++) set.upsert({ indicator: v4Text(i), expires: 1_000_000_000 + (i % 100) }, { nowSeconds: 0 });
    for (let i = 0; i < 20000; i += 2) set.remove('manual', v4Text(i)); // leaves removed indices parked in the heap
    for (let i = 0; i < 5000; i++) set.upsert({ indicator: v4Text(100000 + i), expires: 1_000_000_050 }, { nowSeconds: 0 });
    expect(set.size).toBe(15000);
    expect(set.expire(1_000_000_049)).toBe(5000); // odd i with i % 100 < 50
    expect(set.size).toBe(10000);
    expect(set.expire(1_000_000_050)).toBe(5000); // the new ones (residue 50 was removed: even)
    expect(set.expire(1_000_000_099)).toBe(5000); // odd residues 51..99
    expect(set.size).toBe(0);
    expect(set.nextExpiry()).toBe(0);
  });
});
