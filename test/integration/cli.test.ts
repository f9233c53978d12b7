import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ownPcapsDir, repoRoot } from '../support/corpus.js';
import * as B from '../support/packet-builder.js';
import { demoIntel } from '../support/replay-with-intel.js';

/** The built CLI, as users run it (npm test builds dist/ first). */
const cli = join(repoRoot, 'dist/src/cli/main.js');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'offpath-cli-'));
const capture = join(ownPcapsDir, 'tls-sni.pcap');

describe('offpath CLI', () => {
  test.each([['--help'], ['replay', '--help'], ['help', 'replay'], ['version', '--help']])('%s %s prints usage and exits 0', async (...args) => {
    const r = await run(args.filter(Boolean) as string[]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: offpath/);
  });

  test('exit codes: 2 bad usage, 3 unreadable input, 1 a corrupt file after some packets', async () => {
    expect((await run(['replay'])).code).toBe(2);
    expect((await run(['replay', '--bogus', capture])).code).toBe(2);
    expect((await run(['nonsense'])).code).toBe(2);
    expect((await run(['replay', '--write-rst', join(tmp, 'x.pcap'), capture])).code).toBe(2); // needs --intel
    const missing = await run(['replay', join(tmp, 'missing.pcap')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('missing.pcap');
    const missingIntel = await run(['replay', '--intel', join(tmp, 'missing.csv'), capture]);
    expect(missingIntel.code).toBe(3);
    expect(missingIntel.stderr).toMatch(/missing\.csv.*ENOENT/);
    const whole = readFileSync(capture);
    const cut = join(tmp, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, whole.length - 10));
    const partial = await run(['replay', '--summary-json', '-q', cut]);
    expect(partial.code).toBe(1);
    const summary = JSON.parse(partial.stdout);
    expect(summary.packets).toBeGreaterThan(0);
    expect(summary.files[0].error.offset).toBeGreaterThan(24);
  });

  test('--summary-json, --sessions, --verdicts and --write-rst write what they promise', async () => {
    const sessions = join(tmp, 's.jsonl');
    const verdicts = join(tmp, 'v.jsonl');
    const rst = join(tmp, 'r.pcap');
    const r = await run(['replay', '--summary-json', '--sessions', sessions, '--intel', demoIntel, '--verdicts', verdicts, '--write-rst', rst, capture]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    for (const field of ['packets', 'bytes', 'decodeErrors', 'sessions', 'seconds', 'pps', 'matches', 'rstPackets']) expect(s).toHaveProperty(field);
    expect(s.sessions.tcp).toBe(3);
    expect(s.matches.block).toBe(3);
    expect(r.stderr).toMatch(/packets\s+60/); // the readable summary goes to stderr
    const lines = readFileSync(sessions, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    for (const l of lines) for (const f of ['proto', 'src', 'sport', 'dst', 'dport', 'vlan', 'firstTs', 'lastTs', 'packets', 'bytes', 'state']) expect(l).toHaveProperty(f);
    expect(readFileSync(verdicts, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(readFileSync(rst).length).toBeGreaterThan(24 + s.rstPackets * 16);
  });

  test('output piped into a reader that stops early (| head) ends quietly, not as an internal error', async () => {
    const big = join(tmp, 'big.pcap');
    // 20,000 distinct UDP flows: far more session lines than a pipe buffer holds.
    const records = Array.from({ length: 20_000 }, (_, i) => ({
      data: B.ethIpv4Udp({ src: '198.18.1.1', dst: '198.18.2.2', sport: 1024 + (i % 60_000), dport: 5000 + Math.floor(i / 60_000) }),
      tsSec: 1_700_000_000,
      tsFrac: i,
    }));
    writeFileSync(big, B.buildPcap(records).bytes);
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [cli, 'replay', '-q', '--timeouts', 'none', '--sessions', '-', big], (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
      child.stdout!.once('data', () => child.stdout!.destroy());
    });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
  });

  test('a bad intel line is reported with its number and the rest loads', async () => {
    const intel = join(tmp, 'bad.txt');
    writeFileSync(intel, '# comment\n198.18.0.2:443/tcp\nnot-an-address!!\n192.0.0.0/4\n');
    const r = await run(['replay', '--summary-json', '-q', '--intel', intel, capture]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/bad\.txt:3:/);
    expect(r.stderr).toMatch(/bad\.txt:4:.*over-broad/);
    expect(JSON.parse(r.stdout).intel[0]).toMatchObject({ loaded: 1, skipped: 2 });
  });
});
