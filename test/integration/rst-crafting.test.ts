import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ownPcapsDir, repoRoot } from '../support/corpus.js';
import { replayWithIntel } from '../support/replay-with-intel.js';
import { haveTshark, tsharkFields } from '../support/tshark-oracle.js';

/**
 * Every packet replay crafts is read back by tshark, an independent decoder, with checksum validation on;
 * and every reset is checked against the exact-match rule of RFC 5961 as the capture shows it: the receiver's
 * next expected sequence number at that moment is the end of everything its peer had sent by then.
 */
const captures = readdirSync(ownPcapsDir).filter((f) => /\.pcap(ng)?$/.test(f));
const TSHARK_TIMEOUT_MS = 120_000;

interface Segment {
  ts: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  len: number;
  syn: boolean;
  fin: boolean;
  rst: boolean;
  ackFlag: boolean;
}

async function tcpSegments(file: string, extraArgs: string[] = []): Promise<Segment[]> {
  const fields = ['frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.len', 'tcp.flags.syn', 'tcp.flags.fin', 'tcp.flags.reset', 'tcp.flags.ack'];
  const out = await tsharkFields(file, [...fields], extraArgs);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
    .filter((c) => c[5] !== '' && c[5] !== undefined)
    .map((c) => ({
      ts: Number(c[0]),
      src: lastOf(c[1] || c[2]!),
      dst: lastOf(c[3] || c[4]!),
      sport: Number(lastOf(c[5]!)),
      dport: Number(lastOf(c[6]!)),
      seq: Number(lastOf(c[7]!)),
      ack: Number(lastOf(c[8]!)),
      len: Number(lastOf(c[9]!)),
      syn: isSet(c[10]),
      fin: isSet(c[11]),
      rst: isSet(c[12]),
      ackFlag: isSet(c[13]),
    }));
}

const lastOf = (v: string) => v.split(',').pop()!;
const isSet = (v: string | undefined) => v === '1' || v === 'True';

/** Highest sequence end (SYN and FIN count one) sent from src:sport to dst:dport up to time ts. */
function nxtOf(segments: Segment[], src: string, sport: number, dst: string, dport: number, ts: number): number | null {
  let best: number | null = null;
  for (const s of segments) {
    if (s.ts > ts || s.src !== src || s.sport !== sport || s.dst !== dst || s.dport !== dport || s.rst) continue;
    const end = (s.seq + s.len + (s.syn ? 1 : 0) + (s.fin ? 1 : 0)) >>> 0;
    if (best === null || ((end - best) | 0) > 0) best = end;
  }
  return best;
}

describe.runIf(haveTshark())('crafted resets, checked by tshark', () => {
  test.concurrent.each(captures)('%s: valid checksums, exact sequence numbers', async (file) => {
    const path = join(ownPcapsDir, file);
    const { summary, rstPcap } = await replayWithIntel([path]);
    const check = await tsharkFields(rstPcap, ['ip.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', '_ws.malformed'], ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE']);
    const rows = check.split('\n').filter(Boolean);
    expect(rows.length).toBe(summary.rstPackets! + summary.icmpPackets!);
    for (const row of rows) {
      const [ipStatus, tcpStatus, , malformed] = row.split('\t');
      // 1 = Good. IPv6 has no header checksum (empty).
      if (ipStatus) expect(ipStatus).toBe('1');
      expect(tcpStatus).toBe('1');
      expect(malformed ?? '').toBe('');
    }

    const original = await tcpSegments(path);
    const resets = await tcpSegments(rstPcap);
    // Group the resets of one round by receiver: the first of each group must be exact, the rest are
    // candidates that must lie between what the receiver acknowledged and what its peer sent.
    const groups = new Map<string, Segment[]>();
    for (const r of resets) {
      const key = `${Math.floor(r.ts * 1e3)} ${r.dst} ${r.dport}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(r);
    }
    for (const group of groups.values()) {
      const first = group[0]!;
      expect(first.rst).toBe(true);
      // RCV.NXT of the receiver = end of everything its peer sent before the trigger.
      const expected = nxtOf(original, first.src, first.sport, first.dst, first.dport, first.ts);
      const receiverSentSyn = original.some((s) => s.src === first.dst && s.sport === first.dport && s.dst === first.src && s.dport === first.sport && s.syn && s.ts <= first.ts);
      const peerSeen = expected !== null;
      if (!peerSeen) continue;
      const receiverIsClientInSynSent = receiverSentSyn && !original.some((s) => s.src === first.src && s.sport === first.sport && s.syn && s.ts <= first.ts);
      if (receiverIsClientInSynSent) {
        // SYN-SENT checks only the ACK field: it must acknowledge the client's SYN.
        expect(first.ackFlag).toBe(true);
        expect(first.ack).toBe(nxtOf(original, first.dst, first.dport, first.src, first.sport, first.ts));
      } else {
        expect(first.seq, `first reset to ${first.dst}:${first.dport} at ${first.ts}`).toBe(expected);
        expect(first.seq).not.toBe(0);
      }
    }
  }, TSHARK_TIMEOUT_MS);
});

/** Verdicts are compared with reviewed golden files (UPDATE_GOLDEN=1 rewrites them after a deliberate change). */
describe('verdicts match the golden files', () => {
  test.each(captures)('%s', async (file) => {
    const { verdicts } = await replayWithIntel([join(ownPcapsDir, file)]);
    const text = verdicts.map((v) => JSON.stringify(v)).sort().join('\n') + '\n';
    const golden = join(repoRoot, 'test/golden', `${file}.verdicts.jsonl`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
    // A capture without a reviewed golden file fails rather than writing one: a missing file must not pass.
    if (!existsSync(golden)) throw new Error(`no golden file ${golden}: review the verdicts, then run with UPDATE_GOLDEN=1`);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });
});
