/**
 * Shutdown with requests in flight: closing the server lets every handler already running finish before the
 * backends close, even when its client has gone (a load balancer's timeout, a SOAR job cancelled). Otherwise a
 * handler half-way through an upsert (read the entry, run the script, append the audit record, wait for the
 * matcher) finds the store closed under it.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { InFlightHandlers } from '../../src/api/in-flight.js';
import { startRedisApi } from './harness.js';

/** Starts POST /v1/blocks; returns the request, to be dropped later without reading its answer. */
function startUpsert(url: string, token: string, body: string): ClientRequest {
  const req = httpRequest(new URL('/v1/blocks', url), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  req.on('error', () => undefined);
  req.end(body);
  return req;
}

/** Keeps Redis busy for `ms` (a script that spins), so that every command sent meanwhile waits. */
const SPIN = `local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2]
while true do local t = redis.call('TIME') if t[1] * 1000000 + t[2] - t0 > tonumber(ARGV[1]) * 1000 then break end end
return 1`;

describe('api shutdown', () => {
  it('lets the handlers of requests whose clients have gone finish before closing the store', async () => {
    const errors: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.includes('"level":50')) errors.push(line);
        done();
      },
    });
    const h = await startRedisApi({ logger: pino({ level: 'error' }, sink), closeGraceMs: 5000 });
    // Redis stalls, so the handlers are certain to be mid-way when the server closes.
    const stall = h.client!.eval(SPIN, 0, 400);
    const requests = Array.from({ length: 20 }, (_, i) =>
      startUpsert(h.url, h.tokens.write, JSON.stringify({ indicator: `198.18.7.${i}`, reason: 'shutdown test' })),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const req of requests) req.destroy();
    await h.stop();
    await stall.catch(() => undefined);
    expect(errors.map((line) => line.slice(0, 300))).toEqual([]);
    // Each handler ran to its end: the write is in the store, and this instance's matcher holds it.
    expect(h.set.size).toBe(20);
  }, 30_000);

  it('counts a handler until its promise settles, and gives up waiting after the time asked', async () => {
    const app = Fastify();
    const handlers = new InFlightHandlers();
    handlers.install(app);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    app.get('/slow', async () => {
      await held;
      return { ok: true };
    });
    app.get('/fast', () => ({ ok: true }));
    app.get('/throws', () => {
      throw new Error('boom');
    });
    await app.ready();
    expect((await app.inject('/fast')).statusCode).toBe(200);
    expect((await app.inject('/throws')).statusCode).toBe(500);
    expect(handlers.count).toBe(0);
    const slow = app.inject('/slow');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(handlers.count).toBe(1);
    expect(await handlers.idle(30)).toBe(false);
    const idle = handlers.idle(5000);
    release();
    expect(await idle).toBe(true);
    expect((await slow).statusCode).toBe(200);
    expect(handlers.count).toBe(0);
    await app.close();
  });
});
