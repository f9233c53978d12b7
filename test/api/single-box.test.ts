/**
 * Single-box mode (offpath sensor --api without Redis): the same routes on the sensor's own IntelSet, a LocalFleet
 * shared with the sensor, a tokens file and an in-memory audit ring appended to a file.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FileTokenStore } from '../../src/api/auth/file-token-store.js';
import type { EnforcementMode } from '../../src/fleet/types.js';
import { eventually, expectErrorShape, openSse, startSingleBoxApi, type ApiHarness } from './harness.js';

let box: ApiHarness;

beforeAll(async () => {
  box = await startSingleBoxApi();
});

afterAll(async () => {
  await box?.stop();
});

describe('single-box', () => {
  test('auth: no token 401, lower scope 403, health public', async () => {
    expect((await box.request('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await box.request('GET', '/readyz', { token: null })).status).toBe(200);
    expect((await box.request('GET', '/v1/check?ip=198.18.0.1', { token: null })).status).toBe(401);
    expect((await box.request('GET', '/v1/status', { token: null })).status).toBe(401);
    const forbidden = await box.request('PUT', '/v1/enforcement', { token: box.tokens.write, body: { mode: 'monitor' } });
    expect(forbidden.status).toBe(403);
    expectErrorShape(forbidden.json);
    expect((await box.request('GET', '/v1/status', { token: box.tokens.read })).json).toMatchObject({ mode: 'memory', enforcement: 'enforce' });
  });

  test('a token created or revoked in the tokens file by another process takes effect without a restart', async () => {
    const other = new FileTokenStore(box.tokensFile!, { watch: false });
    const { token } = await other.create({ name: 'late', scope: 'read', createdBy: 'cli:test' });
    // Known at once (the API re-reads a changed file when it meets an unknown token id).
    expect((await box.request('GET', '/v1/status', { token })).status).toBe(200);
    await other.revoke('late', 'cli:test');
    await eventually(async () => (await box.request('GET', '/v1/status', { token })).status === 401, 10_000, 'file revocation to be seen');
    await other.close();
    expect(readFileSync(box.tokensFile!, 'utf8')).not.toContain(token.slice(token.indexOf('_', 4) + 1));
  });

  test('the sensor follows the enforcement switch and reports heartbeats and events through the same LocalFleet', async () => {
    const fleet = box.fleet!;
    const modes: EnforcementMode[] = [];
    const watch = fleet.watchEnforcement((m) => modes.push(m));
    await box.request('PUT', '/v1/enforcement', { body: { mode: 'monitor' } });
    expect(modes).toEqual(['enforce', 'monitor']);
    expect(watch.current()).toBe('monitor');
    watch.stop();
    await box.request('PUT', '/v1/enforcement', { body: { mode: 'enforce' } });

    await fleet.reportHeartbeat({ name: 'box', interfaces: ['eth1'], version: '0.1.0', intelVersion: box.set.version, pps: 5, drops: 0 });
    expect((await box.request('GET', '/v1/sensors')).json.sensors).toEqual([expect.objectContaining({ name: 'box', interfaces: ['eth1'], status: 'up' })]);

    const live = await openSse(`${box.url}/v1/events/stream`, box.tokens.read);
    fleet.reportEvent({ action: 'block', indicator: '198.18.70.1', src: '10.0.0.1', dst: '198.18.70.1', dport: 443 });
    const e = JSON.parse((await live.next()).data);
    live.close();
    expect(e.event).toMatchObject({ sensor: 'box', action: 'block', indicator: '198.18.70.1' });
    const history = await box.request('GET', '/v1/events');
    expect(history.json.events.map((x: { id: string }) => x.id)).toContain(e.id);
  });

  test('the audit ring is readable through the API and appended to its file', async () => {
    await box.request('POST', '/v1/blocks', { body: { indicator: '198.18.71.1' } });
    const audit = await box.request('GET', '/v1/audit?limit=1000');
    const last = audit.json.records.at(-1);
    expect(last).toMatchObject({ action: 'block.upsert', actor: 'admin', target: { indicator: '198.18.71.1' } });
    const file = join(dirname(box.tokensFile!), 'audit.jsonl');
    await eventually(() => readFileSync(file, 'utf8').includes('198.18.71.1'), 5000, 'audit file');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(audit.json.records.map((r: { id: string }) => r.id));
  });

  test('list pages through a large set with cursors; filters apply', async () => {
    for (let i = 0; i < 3000; i++) box.set.upsert({ indicator: `198.19.${i >> 8}.${i & 255}`, source: i % 3 === 0 ? 'feed-x' : 'feed-y', tags: i % 2 ? ['odd'] : [] });
    box.set.upsert({ indicator: '198.19.250.0/24', action: 'allow', source: 'feed-x' });
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { json: { entries: { indicator: string; action: string }[]; nextCursor: string | null } } = await box.request('GET', `/v1/blocks?source=feed-x&limit=333${cursor ? `&cursor=${cursor}` : ''}`);
      for (const entry of page.json.entries) {
        expect(entry.action).not.toBe('allow');
        seen.add(entry.indicator);
      }
      cursor = page.json.nextCursor;
      pages++;
    } while (cursor !== null && pages < 100);
    expect(seen.size).toBe(1000);
    expect((await box.request('GET', '/v1/allowlist?source=feed-x')).json.entries).toHaveLength(1);
    expect((await box.request('GET', '/v1/blocks?tag=odd&limit=1000&source=feed-y')).json.entries.length).toBe(1000);
    const del = await box.request('DELETE', '/v1/blocks?indicator=198.19.0.3');
    expect(del.json.removed).toEqual([expect.objectContaining({ source: 'feed-x', indicator: '198.19.0.3' })]);
  });
});

describe('limits', () => {
  test('event streams beyond --max-event-streams get 429 with Retry-After; a closed one frees its slot', async () => {
    const small = await startSingleBoxApi({ maxEventStreams: 1 });
    try {
      const first = await openSse(`${small.url}/v1/events/stream`, small.tokens.read);
      expect(first.status).toBe(200);
      const second = await small.request('GET', '/v1/events/stream', { token: small.tokens.read });
      expect(second.status).toBe(429);
      expect(expectErrorShape(second.json).code).toBe('too_many_streams');
      expect(second.headers.get('retry-after')).toBe('5');
      first.close();
      await eventually(async () => {
        const again = await openSse(`${small.url}/v1/events/stream`, small.tokens.read);
        again.close();
        return again.status === 200;
      }, 5000, 'the slot to be freed');
    } finally {
      await small.stop();
    }
  });

  test('--body-limit: a JSON body over the limit is a 413', async () => {
    const small = await startSingleBoxApi({ bodyLimit: 1024 });
    try {
      const r = await small.request('POST', '/v1/blocks', { body: { indicator: '198.18.72.1', reason: 'x'.repeat(1000) } });
      expect(r.status).toBe(413);
      expect(expectErrorShape(r.json).code).toBe('payload_too_large');
      expect((await small.request('POST', '/v1/blocks', { body: { indicator: '198.18.72.1', reason: 'short' } })).status).toBe(201);
    } finally {
      await small.stop();
    }
  });
});

describe('bulk against a client that reads nothing until it has sent everything', () => {
  test('no deadlock and bounded memory: successful lines stop being listed past the output limit; the summary says where', async () => {
    const small = await startSingleBoxApi({ bulkOutputLimit: 64 << 10, bulkBatchSize: 100 });
    try {
      const lines = 60_000;
      let body = '';
      for (let i = 0; i < lines; i++) body += `{"indicator":"198.19.${i >> 8}.${i & 255}","source":"s${i % 3}"}\n`;
      body += '{"indicator":"bad"}\n';
      const { port } = new URL(small.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('error', reject);
        // Reading is paused until the whole request is written, as a naive client would do.
        socket.pause();
        socket.write(`POST /v1/blocks/bulk?results=full HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${small.tokens.write}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
        socket.write(body, () => {
          socket.on('data', (d: Buffer) => chunks.push(d));
          socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          socket.resume();
        });
      });
      const text = dechunk(answer);
      const lastLine = text.trim().split('\n').pop()!;
      const summary = JSON.parse(lastLine).summary;
      expect(summary).toMatchObject({ lines: lines + 1, created: lines, failed: 1, complete: true });
      expect(summary.okResultsOmittedAfterLine).toBeGreaterThan(0);
      expect(summary.okResultsOmittedAfterLine).toBeLessThan(lines);
      // The failed line is still reported (errors are listed up to twice the limit).
      expect(text).toContain(`"line":${lines + 1},"ok":false`);
      expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
      expect(small.set.size).toBe(lines);
    } finally {
      await small.stop();
    }
  }, 60_000);
});

/** The body of a raw HTTP/1.1 response with chunked transfer encoding. */
function dechunk(response: string): string {
  let at = response.indexOf('\r\n\r\n') + 4;
  let out = '';
  for (;;) {
    const eol = response.indexOf('\r\n', at);
    const size = parseInt(response.slice(at, eol), 16);
    if (!(size > 0)) return out;
    // sizes count bytes: slice the UTF-8 bytes, not the characters
    const start = Buffer.byteLength(response.slice(0, eol + 2));
    const bytes = Buffer.from(response);
    out += bytes.subarray(start, start + size).toString('utf8');
    at = bytes.subarray(0, start + size + 2).toString('utf8').length;
  }
}
