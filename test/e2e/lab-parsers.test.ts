/**
 * The lab's own readers, without namespaces: the wire-timing analysis on hand-built captures, the Prometheus
 * text reader, the line splitter and the argument reader; each also fuzzed (bad input is an error or a skip,
 * never a crash or a hang).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ArgReader, LabUsageError, LineSplitter, SeededRandom, percentile } from '../bench/lab/lab-protocol.js';
import { summariseLabel, type ConnectionRecord } from '../bench/lab/load-summary.js';
import { Metrics, parsePrometheusText } from '../bench/lab/prometheus-text.js';
import { analyseWireTiming, canonicalAddress } from '../bench/lab/wire-timing.js';
import { OffpathError } from '../../src/util/errors.js';
import * as B from '../support/packet-builder.js';

const tmp = new B.TempDir('offpath-lab-parsers-');
afterAll(() => tmp.remove());

const CLIENT_MAC = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC = [0x02, 0, 0, 0, 0, 0x02];
const INJ_MAC = [0x02, 0, 0, 0, 0, 0x03];
const INJ_TEXT = '02:00:00:00:00:03';
const { SYN, ACK, RST, PSH } = B.TCP_FLAGS;

interface Seg {
  ns: number;
  from: 'client' | 'server' | 'inj';
  server?: string;
  sport?: number;
  flags: number;
  seq?: number;
  payload?: number;
}

/** A nanosecond pcap of client<->server segments as the client's switch port would see them. */
function capture(segments: Seg[]): string {
  const records = segments.map((s) => {
    const server = s.server ?? '198.18.1.1';
    const toServer = s.from === 'client';
    const data = B.ethIpv4Tcp({
      src: toServer ? '198.18.0.10' : server,
      dst: toServer ? server : '198.18.0.10',
      tcp: { sport: toServer ? (s.sport ?? 40000) : 7001, dport: toServer ? 7001 : (s.sport ?? 40000), flags: s.flags, seq: s.seq ?? 0 },
      payload: B.pattern(s.payload ?? 0),
      eth: { src: s.from === 'client' ? CLIENT_MAC : s.from === 'server' ? SERVER_MAC : INJ_MAC, dst: toServer ? SERVER_MAC : CLIENT_MAC },
    });
    return { data, tsSec: 1_800_000_000 + Math.floor(s.ns / 1e9), tsFrac: s.ns % 1e9 };
  });
  return tmp.write(B.buildPcap(records, { nanosecond: true }).bytes);
}

const labels = new Map([['198.18.1.1', 'blocked'], ['198.18.2.1', 'allowed']]);

describe('wire timing', () => {
  it('SYN to first injected RST, per attempt; retransmitted SYNs fold in, a new ISN on the same ports is a new attempt', () => {
    const file = capture([
      { ns: 0, from: 'client', flags: SYN, seq: 100 },
      { ns: 500_000, from: 'client', flags: SYN, seq: 100 }, // retransmission
      { ns: 700_000, from: 'server', flags: SYN | ACK, seq: 9 },
      { ns: 800_000, from: 'server', flags: PSH | ACK, seq: 10, payload: 37 }, // leaked banner
      { ns: 1_000_000, from: 'inj', flags: RST | ACK, seq: 47 },
      { ns: 1_100_000, from: 'inj', flags: RST | ACK, seq: 47 },
      { ns: 1_200_000, from: 'server', flags: PSH | ACK, seq: 47, payload: 5 }, // after the RST: not counted
      // Same ports, new ISN: a new attempt, reset 250 µs after its SYN, nothing leaked.
      { ns: 2_000_000, from: 'client', flags: SYN, seq: 5000 },
      { ns: 2_250_000, from: 'inj', flags: RST | ACK, seq: 0 },
      // An allowed flow: no RST, payload flows.
      { ns: 3_000_000, from: 'client', flags: SYN, seq: 1, server: '198.18.2.1', sport: 40001 },
      { ns: 3_100_000, from: 'server', flags: PSH | ACK, payload: 10, server: '198.18.2.1', sport: 40001 },
      // An injected RST for a flow whose SYN the capture never saw; a flow to an unlabelled server is ignored.
      { ns: 4_000_000, from: 'inj', flags: RST, sport: 40999 },
      { ns: 4_100_000, from: 'client', flags: SYN, server: '198.18.3.3', sport: 40002 },
    ]);
    const t = analyseWireTiming(file, { injectorMacs: [INJ_TEXT], serverLabels: labels }, true);
    expect(t.packets).toBe(13);
    expect(t.decodeErrors).toBe(0);
    expect(t.injectedRstFrames).toBe(4);
    expect(t.injectedRstUnmatched).toBe(1);
    expect(t.attempts!.map((a) => [a.label, a.synNs, a.firstInjectedRstNs, a.serverPayloadBeforeRst, a.injectedRsts])).toEqual([
      ['blocked', 0, 1_000_000, 37, 2],
      ['blocked', 2_000_000, 2_250_000, 0, 1],
      ['allowed', 3_000_000, null, 10, 0],
    ]);
    const blocked = t.labels.blocked!;
    expect(blocked.attempts).toBe(2);
    expect(blocked.withInjectedRst).toBe(2);
    expect(blocked.synToRstUs.p50).toBe(250);
    expect(blocked.synToRstUs.max).toBe(1000);
    expect(blocked.withServerPayloadBeforeRst).toBe(1);
    expect(t.labels.allowed).toMatchObject({ attempts: 1, withInjectedRst: 0, serverPayloadBytesBeforeRst: 10 });
    // The race: SYN to the server's first payload, whether or not a reset came first (injected frames never count).
    expect(t.attempts!.map((a) => a.firstServerPayloadNs)).toEqual([800_000, null, 3_100_000]);
    expect(blocked.synToFirstServerByteUs).toEqual({ count: 1, min: 800, p1: 800, p10: 800, p50: 800 });
    expect(t.labels.allowed!.synToFirstServerByteUs).toEqual({ count: 1, min: 100, p1: 100, p10: 100, p50: 100 });
  });

  it('server addresses match in any spelling; bad MACs and addresses are errors', () => {
    expect(canonicalAddress('2001:2:0:0::1:1')).toBe('2001:2::1:1');
    expect(canonicalAddress('198.18.1.1')).toBe('198.18.1.1');
    expect(() => canonicalAddress('2001:::1')).toThrow();
    const file = capture([{ ns: 0, from: 'client', flags: SYN }]);
    expect(() => analyseWireTiming(file, { injectorMacs: ['02:00'], serverLabels: labels })).toThrow(/MAC/);
  });

  it('fuzz: corrupted captures end in a typed capture error or a result, never a crash', () => {
    const base = Buffer.from(B.buildPcap(
      Array.from({ length: 20 }, (_, i) => ({ data: B.ethIpv4Tcp({ src: '198.18.0.10', dst: '198.18.1.1', tcp: { sport: 40000 + i, dport: 7001, flags: SYN } }) })),
      { nanosecond: true },
    ).bytes);
    const rnd = new SeededRandom(7);
    for (let round = 0; round < 300; round++) {
      const bytes = Buffer.from(base);
      const flips = 1 + Math.floor(rnd.next() * 20);
      for (let i = 0; i < flips; i++) bytes[Math.floor(rnd.next() * bytes.length)] = Math.floor(rnd.next() * 256);
      const cut = rnd.next() < 0.3 ? Math.floor(rnd.next() * bytes.length) : bytes.length;
      const file = tmp.write(bytes.subarray(0, cut));
      try {
        const t = analyseWireTiming(file, { injectorMacs: [INJ_TEXT], serverLabels: labels });
        expect(t.packets).toBeGreaterThanOrEqual(0);
      } catch (err) {
        expect(err).toBeInstanceOf(OffpathError);
      }
    }
  });
});

describe('Prometheus text', () => {
  const text = [
    '# HELP offpath_matches_total Sessions matched',
    '# TYPE offpath_matches_total counter',
    'offpath_matches_total{action="block"} 12',
    'offpath_matches_total{action="monitor"} 3',
    'offpath_kills_confirmed_total{how="reset"} 2',
    'offpath_kills_confirmed_total{how="silence"} 5',
    'offpath_odd{reason="a \\"quoted\\" \\\\ thing"} 1.5e3',
    'offpath_t_bucket{le="0.001"} 50',
    'offpath_t_bucket{le="0.01"} 90',
    'offpath_t_bucket{le="+Inf"} 100',
    'offpath_t_sum 0.3',
    'offpath_t_count 100',
    'offpath_up 1 1700000000000',
  ].join('\n');

  it('sums series by name and labels, reads escaped labels, estimates histogram quantiles', () => {
    const m = Metrics.parse(text);
    expect(m.sum('offpath_matches_total')).toBe(15);
    expect(m.sum('offpath_matches_total', { action: 'block' })).toBe(12);
    expect(m.sum('offpath_kills_confirmed_total')).toBe(7);
    expect(m.sum('offpath_missing')).toBe(0);
    expect(m.sum('offpath_up')).toBe(1);
    expect(parsePrometheusText(text).find((s) => s.name === 'offpath_odd')).toEqual({ name: 'offpath_odd', labels: { reason: 'a "quoted" \\ thing' }, value: 1500 });
    expect(m.histogramQuantile('offpath_t', 0.5)).toBeCloseTo(0.001 * (50 / 50), 9);
    expect(m.histogramQuantile('offpath_t', 0.7)).toBeCloseTo(0.001 + (0.009 * 20) / 40, 9);
    expect(m.histogramQuantile('offpath_t', 0.99)).toBe(0.01); // in the +Inf bucket: its lower bound
    expect(m.histogramQuantile('offpath_none', 0.5)).toBeNull();
    expect(m.has('offpath_t')).toBe(true);
  });

  it('fuzz: any text parses to samples without throwing', () => {
    const rnd = new SeededRandom(11);
    const alphabet = 'ab_{}="\\ \n#.0123456789e+-Inf';
    for (let round = 0; round < 500; round++) {
      let s = text;
      const n = Math.floor(rnd.next() * 40);
      for (let i = 0; i < n; i++) {
        const at = Math.floor(rnd.next() * s.length);
        s = s.slice(0, at) + alphabet[Math.floor(rnd.next() * alphabet.length)]! + s.slice(at + 1);
      }
      expect(() => {
        const m = Metrics.parse(s);
        m.sum('offpath_matches_total', { action: 'block' });
        m.histogramQuantile('offpath_t', 0.99);
      }).not.toThrow();
    }
  });
});

describe('load client helpers', () => {
  it('the line splitter gives the same lines however the stream is cut', () => {
    const whole = 'one\ntwo\n\nthree four\nrest';
    const rnd = new SeededRandom(3);
    for (let round = 0; round < 200; round++) {
      const splitter = new LineSplitter();
      const lines: string[] = [];
      let pos = 0;
      while (pos < whole.length) {
        const len = 1 + Math.floor(rnd.next() * 6);
        lines.push(...splitter.push(whole.slice(pos, pos + len)));
        pos += len;
      }
      expect(lines).toEqual(['one', 'two', '', 'three four']);
    }
    // A peer that never sends a newline does not grow the buffer without bound.
    const s = new LineSplitter();
    for (let i = 0; i < 100; i++) s.push('x'.repeat(10_000));
    expect(s.push('\n')[0]!.length).toBeLessThanOrEqual(1 << 16);
  });

  it('the argument reader rejects bad input with a usage error', () => {
    const a = new ArgReader(['--rate', '5', '--target=a/b', '--target', 'c/d', '--events'], ['events'], 'usage');
    expect([a.number('rate', 0), a.all('target'), a.flag('events')]).toEqual([5, ['a/b', 'c/d'], true]);
    expect(() => new ArgReader(['stray'], [], 'usage')).toThrow(LabUsageError);
    expect(() => new ArgReader(['--rate'], [], 'usage')).toThrow(/needs a value/);
    expect(() => new ArgReader(['--events=1'], ['events'], 'usage')).toThrow(/no value/);
    expect(() => new ArgReader(['--rate', 'x'], [], 'usage').number('rate', 0)).toThrow(/expected a number/);
    expect(() => new ArgReader(['--bogus', '1'], [], 'usage').rejectUnknown(['rate'])).toThrow(/unknown option --bogus/);
  });

  it('Poisson gaps have the requested mean; percentiles are nearest-rank', () => {
    const rnd = new SeededRandom(1);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += rnd.exponentialMs(500);
    expect(sum / 20_000).toBeGreaterThan(1.9);
    expect(sum / 20_000).toBeLessThan(2.1);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(percentile([], 50)).toBeNull();
  });

  it('summaries count resets before the first byte and the bytes leaked by late ones', () => {
    const rec = (over: Partial<ConnectionRecord>): ConnectionRecord => ({
      id: 0, label: 'b', service: 'banner', dst: 'x', dport: 1, src: null, sport: null, connected: true, appBytes: 0,
      outcome: 'reset', error: 'ECONNRESET', errorPhase: 'established', tStart: 0, tConnect: 1, tFirstByte: null, tEnd: 2, ...over,
    });
    const s = summariseLabel([
      rec({}),
      rec({ error: 'ECONNREFUSED', errorPhase: 'connecting', connected: false, tConnect: null }),
      rec({ appBytes: 37, tFirstByte: 1.5 }),
      rec({ outcome: 'completed', error: null, errorPhase: null, appBytes: 50, tFirstByte: 1.2 }),
    ]);
    expect(s).toMatchObject({ connections: 4, reset: 3, completed: 1, resetWhileConnecting: 1, resetBeforeFirstByte: 2, resetAfterAppBytes: 1, withAppBytes: 2 });
    expect(s.leakedBytes).toEqual({ total: 37, max: 37 });
    expect(s.errorCodes).toEqual({ ECONNRESET: 2, ECONNREFUSED: 1 });
  });
});
