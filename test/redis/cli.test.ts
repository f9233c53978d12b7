/**
 * `offpath intel` as users run it (the built CLI, dist/ — npm test builds it first) against a real redis-server:
 * every subcommand, the file formats of import, validation and connection errors with their exit codes, and a
 * 1 M-line import in bounded memory.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisIntelStore } from '../../src/intel/redis/intel-store.js';
import { repoRoot } from '../support/corpus.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { uniqueName } from './helpers.js';

const cli = join(repoRoot, 'dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'offpath-intel-cli-'));
let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, ...args], { maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

function intel(prefix: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(['intel', ...args, '--redis', server.url, '--redis-key-prefix', prefix]);
}

describe('offpath intel', () => {
  test('help, and usage errors exit 2', async () => {
    const help = await run(['intel', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: offpath intel SUBCOMMAND/);
    expect(help.stdout).toMatch(/--redis-sentinel/);
    expect((await run(['help', 'intel'])).stdout).toMatch(/import FILE/);
    expect((await run(['--help'])).stdout).toMatch(/intel {10,}manage/);
    expect((await run(['intel', 'list'])).code).toBe(2); // no --redis
    expect((await run(['intel', 'frobnicate', '--redis', server.url])).code).toBe(2);
    expect((await run(['intel', 'add', '--redis', server.url])).code).toBe(2);
    expect((await run(['intel', 'list', '--expires', '1h', '--redis', server.url])).code).toBe(2);
    expect((await run(['intel', 'list', '--redis', 'http://nope'])).code).toBe(2);
    expect((await run(['intel', 'list', '--redis-sentinel', 'a:1', '--redis', server.url])).stderr).toMatch(/--redis-sentinel-name/);
  }, 60_000);

  test('add, list, remove, status, with validation errors naming the problem', async () => {
    const p = uniqueName('cli');
    const added = await intel(p, 'add', '198.18.0.5', '--reason', 'c2 server', '--tags', 'apt;c2', '--expires', '2099-01-01', '--actor', 'alice');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^added: 198\.18\.0\.5 {2}block {2}source=manual/);
    expect((await intel(p, 'add', '198.18.0.5', '--reason', 'c2 server', '--tags', 'c2;apt', '--expires', '2099-01-01')).stdout).toMatch(/^unchanged/);
    expect((await intel(p, 'add', '[2001:2::1]:53/udp', '--action', 'monitor', '--source', 'soc', '--id', 'T-1')).code).toBe(0);
    const bad = await intel(p, 'add', '198.18.0.256');
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/invalid indicator "198\.18\.0\.256"/);
    const broad = await intel(p, 'add', '10.0.0.0/8');
    expect(broad.code).toBe(3);
    expect(broad.stderr).toMatch(/over-broad/);
    expect((await intel(p, 'add', '10.0.0.0/8', '--force')).code).toBe(0);
    expect((await intel(p, 'add', '198.18.0.9', '--action', 'nuke')).stderr).toMatch(/action: unknown action "nuke"/);
    expect((await intel(p, 'add', '198.18.0.9', '--expires', 'yesterday')).stderr).toMatch(/expires/);

    const list = await intel(p, 'list', '--json');
    const entries = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { indicator: string; actor: string; tags: string[] });
    expect(entries.map((e) => e.indicator).sort()).toEqual(['10.0.0.0/8', '198.18.0.5', '[2001:2::1]:53/udp']);
    expect(entries.find((e) => e.indicator === '198.18.0.5')).toMatchObject({ actor: 'alice', tags: ['apt', 'c2'] });
    expect((await intel(p, 'list', '--action', 'monitor')).stdout).toMatch(/^\[2001:2::1\]:53\/udp {2}monitor {2}source=soc {2}id=T-1/);
    expect((await intel(p, 'list', '--kind', 'cidr4', '--json')).stdout.trim().split('\n')).toHaveLength(1);
    expect((await intel(p, 'list', '--limit', '1')).stderr).toMatch(/1 entries \(more/);

    const status = JSON.parse((await intel(p, 'status', '--json')).stdout) as { version: number; entries: number };
    expect(status).toMatchObject({ version: 3, entries: 3 });

    expect((await intel(p, 'remove', '--source', 'soc', '--id', 'T-1')).stdout).toMatch(/1 removed/);
    expect((await intel(p, 'remove', '198.18.0.5')).stdout).toMatch(/1 removed/);
    expect((await intel(p, 'remove', '198.18.0.5')).stdout).toMatch(/no entry matched/);
  }, 60_000);

  test('import: plain, CSV and JSON lines; bad lines reported by number, exit 1; export reads back the same', async () => {
    const p = uniqueName('cli');
    const plain = join(tmp, 'drop.txt');
    writeFileSync(plain, '# a DROP-like list\n198.18.1.0/24 ; SBL1\n198.18.2.1\nnot-an-indicator\n\n198.18.2.2 # trailing comment\n');
    const csv = join(tmp, 'feed.csv');
    writeFileSync(csv, 'indicator,action,expires,source,reason,tags,id\n198.18.3.1,monitor,2099-01-01,feedA,"scanner, noisy",scan;noise,\n198.18.3.2,allow,,feedA,,,A-2\n198.18.3.3,explode,,feedA,,,\n');
    const jsonl = join(tmp, 'feed.jsonl');
    writeFileSync(jsonl, '{"indicator":"evil.example.com","reason":"phishing","tags":["phish"]}\n{"indicator":"198.18.4.1","expires":"2001-01-01"}\nnot json\n');
    const a = await intel(p, 'import', plain, '--json');
    expect(a.code).toBe(1);
    expect(JSON.parse(a.stdout)).toMatchObject({ format: 'plain', entries: 3, skipped: 1, created: 3 });
    expect(a.stderr).toMatch(/drop\.txt:4: invalid indicator "not-an-indicator"/);
    const b = await intel(p, 'import', csv);
    expect(b.code).toBe(1);
    expect(b.stdout).toMatch(/feed\.csv: 4 lines, 2 entries \(2 new/);
    expect(b.stderr).toMatch(/feed\.csv:4: action: unknown action "explode"/);
    const c = await intel(p, 'import', jsonl, '--json');
    expect(JSON.parse(c.stdout)).toMatchObject({ format: 'jsonl', entries: 1, skipped: 1, expired: 1 });
    const stdin = await run(['intel', 'import', '-', '--source', 'piped', '--action', 'monitor', '--redis', server.url, '--redis-key-prefix', p], '198.18.5.1\n198.18.5.2\n');
    expect(stdin.code).toBe(0);
    expect((await intel(p, 'import', join(tmp, 'missing.txt'))).code).toBe(3);

    const exported = await intel(p, 'export');
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(lines).toHaveLength(8);
    expect(lines.map((l) => JSON.parse(l))).toContainEqual({ indicator: '198.18.3.1', action: 'monitor', source: 'feedA', expires: 4070908800, reason: 'scanner, noisy', tags: ['noise', 'scan'] });
    // Round trip: the export imported under another prefix gives the same set.
    const file = join(tmp, 'export.jsonl');
    writeFileSync(file, exported.stdout);
    const q = uniqueName('cli');
    expect((await intel(q, 'import', file)).code).toBe(0);
    expect((await intel(q, 'export')).stdout.trim().split('\n').sort()).toEqual([...lines].sort());
    const csvOut = join(tmp, 'export.csv');
    expect((await intel(p, 'export', '--format', 'csv', '--out', csvOut)).code).toBe(0);
    const r = uniqueName('cli');
    expect((await intel(r, 'import', csvOut)).code).toBe(0);
    expect((await intel(r, 'export')).stdout.trim().split('\n').sort()).toEqual([...lines].sort());
  }, 120_000);

  test('import of more entries than a loader upserts one by one: the last, partial batch is written too', async () => {
    const p = uniqueName('cli');
    const count = 4096 + 64 * 2 + 5; // past the sample the loader sizes its reservation from, then in batches of 64
    const file = join(tmp, 'many.txt');
    writeFileSync(file, `${Array.from({ length: count }, (_, i) => `198.18.${i >> 8}.${i & 255}`).join('\n')}\n`);
    const imported = await intel(p, 'import', file, '--json');
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ entries: count, created: count });
    expect(JSON.parse((await intel(p, 'status', '--json')).stdout)).toMatchObject({ entries: count });
  }, 120_000);

  test('expire removes what has expired; Redis unreachable exits 4 with a readable message', async () => {
    const p = uniqueName('cli');
    const store = RedisIntelStore.connect({ url: server.url, keyPrefix: p }, { clock: () => Math.floor(Date.now() / 1000) - 86_400 });
    await store.upsert({ indicator: '198.18.6.1', expires: '1h' }, { actor: 'past' }); // expired an hour after "yesterday"
    await store.upsert({ indicator: '198.18.6.2' }, { actor: 'past' });
    await store.close();
    expect((await intel(p, 'expire')).stdout).toMatch(/^1 expired entries removed/);
    expect(JSON.parse((await intel(p, 'status', '--json')).stdout)).toMatchObject({ entries: 1 });
    const dead = await run(['intel', 'list', '--redis', 'redis://127.0.0.1:1', '--redis-connect-timeout', '1']);
    expect(dead.code).toBe(4);
    expect(dead.stderr).toMatch(/cannot connect to redis:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  }, 60_000);

  test('import of 1,000,000 lines streams in bounded memory', async () => {
    const p = uniqueName('cli');
    const file = join(tmp, 'million.txt');
    const out = createWriteStream(file);
    for (let i = 0; i < 1_000_000; i++) {
      if (!out.write(`198.${18 + (i >>> 16 >= 1 ? 1 : 0)}.${(i >>> 8) & 255}.${i & 255}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'close');
    const r = await intel(p, 'import', file, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { entries: number; created: number; peakRssBytes: number };
    // 2^16 distinct third/fourth octets per second octet: 198.18.x.y then 198.19.x.y, with repeats.
    expect(summary.entries).toBe(1_000_000);
    expect(summary.created).toBe(2 * 65_536);
    // Held all at once, a million parsed entries would take several hundred MB; streaming stays near node's base.
    expect(summary.peakRssBytes).toBeLessThan(250 * 1024 * 1024);
  }, 600_000);
});
