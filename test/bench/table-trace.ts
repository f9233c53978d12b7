/**
 * The session table alone, without reading or decoding: the synthetic capture (or any capture) is decoded once
 * into a trace file of the fields `SessionTable.track()` reads, and the trace is then replayed into fresh tables
 * from memory, several passes in one process. Time spent here is the table's own: its hash index, its rows, the
 * cache misses they cost. `--reuse` also prints, for packets of existing sessions, how many packets back the
 * same session was last seen: the reuse distance that decides whether its lines are still in cache.
 *
 * To compare a change: copy `dist/` (with `package.json` and a `node_modules` link beside it), edit the copy,
 * and run each copy's `test/bench/table-trace.js` in alternation; both read the same cached trace.
 *
 * Not part of `npm run bench`: a tool for working on the session table (its results so far: test/bench/HISTORY.md).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openCaptureFile } from '../../src/capture/file/open-capture-file.js';
import { decodePacket } from '../../src/decode/decoder.js';
import { DecodedPacket, DecodeResult } from '../../src/decode/decoded-packet.js';
import { nativeTrackerFor, parseSessionTrackPath } from '../../src/pipeline/session-track-path.js';
import { SessionTable } from '../../src/session/session-table.js';
import { scriptFlags } from './harness/script-flags.js';
import { benchCacheDir, ensureSyntheticPcap } from './synthetic-pcap.js';

const USAGE =
  'usage: node dist/test/bench/table-trace.js [--capture FILE] [--passes N] [--session-track js|native] [--reuse]\n' +
  '  --capture FILE  capture to trace (default: the benchmark\'s synthetic capture, generated if missing)\n' +
  '  --passes N      replays of the trace into a fresh table (default 3)\n' +
  '  --session-track the table\'s per-packet path: js (default) or native (the addon\'s, without look-ahead)\n' +
  '  --reuse         also print the reuse distance histogram of existing sessions\' packets\n' +
  'One JSON object on stdout (milliseconds per pass, ns per packet); progress on stderr.\n';

const args = process.argv.slice(2);
scriptFlags(USAGE, ['--reuse'], {
  '--capture': { pattern: /./, what: 'a file' },
  '--passes': { pattern: /^[1-9][0-9]?$/, what: 'a number from 1 to 99' },
  '--session-track': { pattern: /^(js|native)$/, what: 'js or native' },
});
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

/** Packet fields that track() reads, in trace order; the timestamp (f64, two words) and the frame length follow. */
const FIELDS = [
  'src0', 'src1', 'src2', 'src3', 'dst0', 'dst1', 'dst2', 'dst3', 'srcPort', 'dstPort', 'l4Protocol', 'vlan0', 'vlan1',
  'tcpFlags', 'seq', 'ack', 'window', 'ttl', 'payloadLength', 'windowScale', 'ipVersion',
] as const satisfies readonly (keyof DecodedPacket)[];
const TS_WORD = FIELDS.length;
const WIRE_WORD = FIELDS.length + 2;
const RECORD_WORDS = FIELDS.length + 3;
/** Bump with any change to the record (the cached traces of older versions are then left unread). */
const TRACE_VERSION = 1;

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Decodes every packet that has a flow into trace records; returns the cached trace when one exists. */
function traceOf(capture: string): Uint32Array {
  const dir = join(benchCacheDir(), 'table-trace');
  // Name and size: a different capture of the same name gets its own trace.
  const path = join(dir, `${basename(capture)}-${statSync(capture).size}.v${TRACE_VERSION}.trace`);
  if (!existsSync(path)) {
    log(`decoding ${capture} into ${path} ...`);
    const records: Uint32Array[] = [];
    let chunk = new Uint32Array(RECORD_WORDS * 65536);
    let used = 0;
    const ts = new Float64Array(1);
    const tsWords = new Uint32Array(ts.buffer);
    const pkt = new DecodedPacket();
    const { source } = openCaptureFile(capture);
    try {
      while (source.next()) {
        pkt.ts = source.tsSec + source.tsNsec * 1e-9;
        if (decodePacket(pkt, source.data, source.offset, source.capturedLength, source.wireLength, source.linkType) !== DecodeResult.flow) continue;
        if (used === chunk.length) {
          records.push(chunk);
          chunk = new Uint32Array(chunk.length);
          used = 0;
        }
        for (let f = 0; f < FIELDS.length; f++) chunk[used + f] = Number(pkt[FIELDS[f]!]) >>> 0;
        ts[0] = pkt.ts;
        chunk[used + TS_WORD] = tsWords[0]!;
        chunk[used + TS_WORD + 1] = tsWords[1]!;
        chunk[used + WIRE_WORD] = source.wireLength;
        used += RECORD_WORDS;
      }
    } finally {
      source.close();
    }
    records.push(chunk.subarray(0, used));
    mkdirSync(dir, { recursive: true });
    const partial = `${path}.partial-${process.pid}`;
    writeFileSync(partial, Buffer.concat(records.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))));
    renameSync(partial, path);
  }
  const bytes = readFileSync(path);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
}

/** Replays the trace into `table` (a fresh one); calls `seen(i, session, created)` per packet when given. */
function replay(trace: Uint32Array, table: SessionTable, seen?: (i: number, session: number, created: boolean) => void): number {
  const pkt = new DecodedPacket();
  const ts = new Float64Array(1);
  const tsWords = new Uint32Array(ts.buffer);
  const packets = trace.length / RECORD_WORDS;
  const started = performance.now();
  for (let i = 0, o = 0; i < packets; i++, o += RECORD_WORDS) {
    pkt.src0 = trace[o]!; pkt.src1 = trace[o + 1]!; pkt.src2 = trace[o + 2]!; pkt.src3 = trace[o + 3]!;
    pkt.dst0 = trace[o + 4]!; pkt.dst1 = trace[o + 5]!; pkt.dst2 = trace[o + 6]!; pkt.dst3 = trace[o + 7]!;
    pkt.srcPort = trace[o + 8]!; pkt.dstPort = trace[o + 9]!; pkt.l4Protocol = trace[o + 10]!;
    pkt.vlan0 = trace[o + 11]!; pkt.vlan1 = trace[o + 12]!; pkt.tcpFlags = trace[o + 13]!;
    pkt.seq = trace[o + 14]!; pkt.ack = trace[o + 15]!; pkt.window = trace[o + 16]!; pkt.ttl = trace[o + 17]!;
    pkt.payloadLength = trace[o + 18]!; pkt.windowScale = trace[o + 19]!; pkt.ipVersion = trace[o + 20]!;
    tsWords[0] = trace[o + TS_WORD]!;
    tsWords[1] = trace[o + TS_WORD + 1]!;
    pkt.ts = ts[0]!;
    const s = table.track(pkt, trace[o + WIRE_WORD]!);
    if (seen) seen(i, s, table.lastCreated);
  }
  return performance.now() - started;
}

/** Share of existing sessions' packets by reuse distance, in decades: [1, 10), [10, 100), ... [1 M, ∞). */
function reuseHistogram(trace: Uint32Array): Record<string, string> {
  const table = new SessionTable();
  const last = new Float64Array(table.capacity).fill(-1);
  const decades = new Float64Array(7);
  let existing = 0;
  replay(trace, table, (i, s, created) => {
    if (!created) {
      decades[Math.min(6, Math.floor(Math.log10(i - last[s]!)))]! += 1;
      existing++;
    }
    last[s] = i;
  });
  const names = ['1-9', '10-99', '100-999', '1k-10k', '10k-100k', '100k-1M', '1M+'];
  return Object.fromEntries(names.map((name, d) => [name, `${((decades[d]! / existing) * 100).toFixed(1)} %`]));
}

async function main(): Promise<void> {
  const capture = option('--capture') ?? (await ensureSyntheticPcap()).path;
  const passes = Number(option('--passes') ?? 3);
  const path = parseSessionTrackPath(option('--session-track') ?? 'js');
  const newTable = (): SessionTable => new SessionTable({ nativeTracker: nativeTrackerFor(path) });
  const trace = traceOf(capture);
  const packets = trace.length / RECORD_WORDS;
  const ms: number[] = [];
  for (let p = 0; p < passes; p++) {
    ms.push(replay(trace, newTable()));
    log(`pass ${p + 1}/${passes}: ${ms[p]!.toFixed(0)} ms, ${((ms[p]! * 1e6) / packets).toFixed(0)} ns a packet`);
  }
  const best = Math.min(...ms);
  const result = {
    capture,
    sessionTrack: path,
    packets,
    msPerPass: ms.map((x) => Math.round(x)),
    bestNsPerPacket: Math.round((best * 1e6) / packets),
    ...(args.includes('--reuse') ? { reuseDistance: reuseHistogram(trace) } : {}),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`table-trace: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
