/**
 * The commands as users run them (the built CLI, dist/src/cli/main.js; `npm test` builds it first):
 * offpath token create|list|revoke and offpath api, over HTTPS against a real Redis, stopped with SIGTERM.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { repoRoot } from '../support/corpus.js';

const cli = join(repoRoot, 'dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'offpath-api-cli-'));
let redis: RedisServer;

function run(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function https(url: string, ca: Buffer, options: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(url, {
      method: options.method ?? 'GET',
      ca,
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  redis = await startRedisServer();
  await new Promise<void>((resolve, reject) => {
    execFile('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], (err) => (err ? reject(err) : resolve()));
  });
}, 60_000);

afterAll(async () => {
  await redis?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

describe('offpath token', () => {
  test('--help, and usage errors exit 2', { timeout: 60_000 }, async () => {
    const help = await run(['token', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: offpath token create/);
    for (const scope of ['read', 'write', 'admin']) expect(help.stdout).toContain(scope);
    expect((await run(['token'])).code).toBe(2);
    expect((await run(['token', 'create', '--tokens', join(tmp, 't.jsonl'), '--name', 'x'])).code).toBe(2);
    expect((await run(['token', 'create', '--tokens', join(tmp, 't.jsonl'), '--name', 'bad name', '--scope', 'read'])).code).toBe(2);
    expect((await run(['token', 'list'])).code).toBe(2);
  });

  test('create prints the token once, only its hash is in the file; list; revoke; name reuse refused while active', { timeout: 60_000 }, async () => {
    const file = join(tmp, 'tokens.jsonl');
    const created = await run(['token', 'create', '--tokens', file, '--name', 'soc-1', '--scope', 'write', '--rate-limit', '50']);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^opk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(file, 'utf8')).not.toContain(token.slice(token.indexOf('_', 4) + 1));
    expect((await run(['token', 'create', '--tokens', file, '--name', 'soc-1', '--scope', 'read'])).code).toBe(2);
    const list = await run(['token', 'list', '--json', '--tokens', file]);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toEqual([expect.objectContaining({ name: 'soc-1', scope: 'write', rateLimit: 50, revokedAt: null })]);
    expect(JSON.stringify(rows)).not.toContain('hash');
    expect((await run(['token', 'revoke', '--tokens', file, 'soc-1'])).code).toBe(0);
    expect((await run(['token', 'revoke', '--tokens', file, 'soc-1'])).code).toBe(1);
    expect((await run(['token', 'create', '--tokens', file, '--name', 'soc-1', '--scope', 'read'])).code).toBe(0);
  });
});

describe('offpath api', () => {
  test('--help documents every option; bad usage exits 2; an unreachable Redis exits 4', async () => {
    const help = await run(['api', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--listen', '--tls-cert', '--tls-key', '--tokens', '--body-limit', '--rate-limit', '--redis', '--public-docs', '--trust-proxy']) expect(help.stdout).toContain(option);
    expect((await run(['api'])).code).toBe(2);
    expect((await run(['api', '--redis', redis.url, '--listen', 'nowhere'])).code).toBe(2);
    expect((await run(['api', '--redis', redis.url, '--rate-limit', 'fast'])).code).toBe(2);
    expect((await run(['api', '--redis', redis.url, '--tls-cert', join(tmp, 'cert.pem')])).code).toBe(2);
    const down = await run(['api', '--redis', 'redis://127.0.0.1:1', '--listen', '127.0.0.1:0', '--redis-connect-timeout', '1']);
    expect(down.code).toBe(4);
    expect(down.stderr).toMatch(/redis|Redis/);
  }, 60_000);

  test('serves HTTPS with a token made by the CLI, audits the CLI token change, and stops cleanly on SIGTERM', async () => {
    const made = await run(['token', 'create', '--redis', redis.url, '--name', 'ops', '--scope', 'admin']);
    expect(made.code).toBe(0);
    const token = made.stdout.trim();
    const child: ChildProcess = spawn(process.execPath, [cli, 'api', '--redis', redis.url, '--listen', '127.0.0.1:0', '--tls-cert', join(tmp, 'cert.pem'), '--tls-key', join(tmp, 'key.pem')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        logs += d.toString();
        const m = /"url":"(https:\/\/[^"]+)"/.exec(logs);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`api exited ${code}: ${logs}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const ca = readFileSync(join(tmp, 'cert.pem'));
      expect((await https(`${url}/healthz`, ca)).json).toEqual({ status: 'ok' });
      expect((await https(`${url}/v1/status`, ca)).status).toBe(401);
      const posted = await https(`${url}/v1/blocks`, ca, { method: 'POST', token, body: { indicator: '198.18.80.1', reason: 'via tls' } });
      expect(posted.status).toBe(201);
      const check = await https(`${url}/v1/check?ip=198.18.80.1`, ca, { token });
      expect(check.json).toMatchObject({ verdict: 'block', entry: { reason: 'via tls' } });
      const audit = await https(`${url}/v1/audit`, ca, { token });
      const records = audit.json.records as { action: string; actor: string; address: string }[];
      expect(records.map((r) => r.action)).toEqual(['token.create', 'block.upsert']);
      expect(records[0]!.actor).toMatch(/^cli:/);
      expect(records[1]).toMatchObject({ actor: 'ops', address: '127.0.0.1' });
      // every line on stderr is a JSON log line
      for (const line of logs.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(logs).toContain('"msg":"stopped"');
  }, 60_000);
});
