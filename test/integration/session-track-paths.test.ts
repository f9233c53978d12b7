/**
 * The session table's two per-packet paths, the TypeScript one and the addon's (native-bindings/src/session_track.cc),
 * must give the same sessions: every capture in pcaps/ and every file of the shared corpus is replayed through both,
 * and every session record and the summary must be equal. Each file runs three ways: the default idle timeouts, no
 * expiry, and a table of 64 sessions, so that eviction, expiry and port reuse, which the native path hands back to
 * the TypeScript one, interleave with it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { openCaptureFile } from '../../src/capture/file/open-capture-file.js';
import type { PacketSource } from '../../src/capture/packet-source.js';
import { sessionRecordJson } from '../../src/events/session-record.js';
import { Engine } from '../../src/pipeline/engine.js';
import { runReplay, type ReplayOptions } from '../../src/pipeline/replay.js';
import { nativeTrackerFor, parseSessionTrackPath } from '../../src/pipeline/session-track-path.js';
import { NATIVE_TRACK_LAYOUT, PACKET_WORDS, STATE_WORDS } from '../../src/session/native-track.js';
import { parseTimeouts } from '../../src/session/timeouts.js';
import { UsageError } from '../../src/util/errors.js';
import { corpusEntries, ownPcapsDir, repoRoot } from '../support/corpus.js';

const tmp = mkdtempSync(join(tmpdir(), 'offpath-track-paths-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 100,000 sessions rather than the default million: a thousand replays of 188 MB tables leave this process too much
// address space to fork the CLI below.
const VARIANTS: { name: string; options: Partial<ReplayOptions> }[] = [
  { name: 'default timeouts', options: { capacity: 100_000 } },
  { name: 'no expiry', options: { capacity: 100_000, timeouts: parseTimeouts('none') } },
  { name: '64 sessions', options: { capacity: 64 } },
];

let run = 0;
function replayBoth(path: string): void {
  for (const variant of VARIANTS) {
    const outputs = (['js', 'native'] as const).map((sessionTrack) => {
      const sessionsOut = join(tmp, `${run++}.jsonl`);
      const summary = runReplay({ files: [path], sessionsOut, sessionTrack, ...variant.options });
      expect(summary.sessionTable.track).toBe(sessionTrack);
      const { seconds: _s, pps: _p, peakRssBytes: _r, sessionTable, ...rest } = summary;
      const records = readFileSync(sessionsOut, 'utf8');
      rmSync(sessionsOut);
      return { summary: { ...rest, sessionTable: { ...sessionTable, track: undefined } }, records };
    });
    const [js, native] = outputs;
    expect(native!.summary, `${variant.name}: summary`).toEqual(js!.summary);
    // Equal strings, compared as such: a diff of thousands of lines is no help, the first differing line is.
    if (native!.records !== js!.records) {
      const a = js!.records.split('\n');
      const b = native!.records.split('\n');
      const i = a.findIndex((line, k) => line !== b[k]);
      expect.fail(`${variant.name}: session record ${i} differs:\n  js     ${a[i]}\n  native ${b[i]}`);
    }
  }
}

const ownCaptures = readdirSync(ownPcapsDir).filter((f) => /\.pcap(ng)?$/.test(f));
const corpus = corpusEntries();

describe('the native and TypeScript per-packet paths give the same sessions', () => {
  test.each(ownCaptures)('pcaps/%s', (file) => replayBoth(join(ownPcapsDir, file)));
  test.runIf(corpus.length > 0)('every file of the shared corpus', async () => {
    for (const entry of corpus) {
      replayBoth(entry.path);
      // Node-API finalizers run after the event loop turns: this lets the native trackers of the tables just dropped
      // release their arrays, instead of holding every table's address space until the loop ends.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }, 300_000);
});

/**
 * Replays `path` through an engine on `sessionTrack`. With `ahead`, each packet's look-ahead hint is what `ahead`
 * says, handed to the table before the engine tracks the packet (the engine's own hints are off); without it, the
 * engine gives the reader's hints from the first packet on.
 */
function recordsWithHints(path: string, sessionTrack: 'js' | 'native', ahead?: (source: PacketSource) => [Uint8Array, number, number]): string {
  const lines: string[] = [];
  const engine = new Engine({
    capacity: 64, sessionTrack, lookaheadMinSessions: ahead ? Infinity : 0,
    onEnd: (t, s, reason) => lines.push(sessionRecordJson(t, s, reason)),
  });
  const { source } = openCaptureFile(path);
  try {
    while (source.next()) {
      if (ahead) engine.table.lookahead(...ahead(source));
      engine.handleSource(source);
    }
  } finally {
    source.close();
  }
  engine.finish();
  return lines.join('\n');
}

describe('look-ahead hints only prefetch', () => {
  // The native path reads the packet after next from the reader's buffer to prefetch its slot and row. Whatever the
  // hint points at (garbage, past the end, another packet), the sessions must not change and nothing may crash.
  const file = join(ownPcapsDir, 'vlan.pcap');
  const expected = recordsWithHints(file, 'js');

  test('hints at random places, with random lengths, even past the buffer', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const noise = new Uint8Array(4096).map(() => random(256));
    for (const buffer of [noise, new Uint8Array(0), new Uint8Array(13)]) {
      const got = recordsWithHints(file, 'native', () => [buffer, random(buffer.length + 64) - 8, random(9000)]);
      expect(got).toBe(expected);
    }
  });

  test("the reader's own hints, as the engine passes them, and hints at the wrong packet", () => {
    let given = 0;
    expect(recordsWithHints(file, 'native', (s) => {
      const offset = s.aheadOffset();
      if (offset >= 0) given++;
      return [s.data, offset, s.aheadLength];
    })).toBe(expected);
    expect(given).toBeGreaterThan(0);
    expect(recordsWithHints(file, 'native')).toBe(expected);
    expect(recordsWithHints(file, 'native', (s) => [s.data, s.offset, s.capturedLength])).toBe(expected);
  });
});

describe('choosing the path', () => {
  test('parseSessionTrackPath: auto by default, the three names, a usage error otherwise', () => {
    expect(parseSessionTrackPath(undefined)).toBe('auto');
    for (const p of ['auto', 'native', 'js']) expect(parseSessionTrackPath(p)).toBe(p);
    expect(() => parseSessionTrackPath('fast')).toThrow(UsageError);
  });

  test('js gives no factory; native and auto give the addon when it is built (as here and in CI)', () => {
    expect(nativeTrackerFor('js')).toBeNull();
    expect(nativeTrackerFor('native')).toBeTypeOf('function');
    expect(nativeTrackerFor('auto')).toBeTypeOf('function');
  });

  test('the addon refuses arrays that do not fit the table; native says so (exit code 4), auto falls back to js', () => {
    const factory = nativeTrackerFor('native')!;
    const good = {
      layout: NATIVE_TRACK_LAYOUT, capacity: 4, slotCount: 8, vlanTracking: true,
      slots: new Int32Array(16), rows: new Uint32Array(4 * 42), listHead: new Int32Array(8), listTail: new Int32Array(8),
      listSize: new Int32Array(8), freeList: new Int32Array(4), created: new Float64Array(3), packet: new Uint32Array(PACKET_WORDS),
      packetTs: new Float64Array(1), state: new Int32Array(STATE_WORDS),
    };
    expect(factory(good)!.track).toBeTypeOf('function');
    expect(() => factory({ ...good, layout: 99 })).toThrow(/layout 99/);
    expect(() => factory({ ...good, layout: 99 })).toThrow(expect.objectContaining({ code: 'native_session_path' }));
    expect(() => factory({ ...good, packet: new Uint32Array(24) })).toThrow(/packet must be a typed array/);
    expect(() => factory({ ...good, rows: new Uint32Array(42) })).toThrow(/rows must be a typed array/);
    expect(() => factory({ ...good, freeList: new Float64Array(4) as unknown as Int32Array })).toThrow(/freeList/);
    expect(() => factory({ ...good, slotCount: 6 })).toThrow(/out of range/);
    expect(nativeTrackerFor('auto')!({ ...good, layout: 99 })).toBeNull();
  });

  test('offpath replay --session-track: js and native say which ran; a bad value is a usage error (exit 2)', async () => {
    const cli = join(repoRoot, 'dist/src/cli/main.js');
    const capture = join(ownPcapsDir, 'tls-sni.pcap');
    const runCli = (args: string[]) =>
      new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(process.execPath, [cli, ...args], (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }));
      });
    for (const path of ['js', 'native']) {
      const r = await runCli(['replay', '--summary-json', '-q', '--session-track', path, capture]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).sessionTable.track).toBe(path);
    }
    expect((await runCli(['replay', '--session-track', 'fast', capture])).code).toBe(2);
  });
});
