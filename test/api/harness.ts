/**
 * Test harness for the API: real HTTP on 127.0.0.1:0, against a real redis-server (Redis mode) or in single-box
 * mode, with one token per scope. Everything started here is stopped by `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { FileTokenStore } from '../../src/api/auth/file-token-store.js';
import { RedisTokenStore } from '../../src/api/auth/redis-token-store.js';
import type { Scope } from '../../src/api/auth/scopes.js';
import type { TokenStore } from '../../src/api/auth/token-store.js';
import { apiPrefixFor } from '../../src/api/keys.js';
import { createRedisApiDeps, type RedisApiDeps } from '../../src/api/redis-mode.js';
import { buildApiServer, type ApiServerOptions } from '../../src/api/server.js';
import { singleBoxDeps } from '../../src/api/single-box.js';
import type { ApiDeps } from '../../src/api/deps.js';
import { LocalFleet } from '../../src/fleet/local-fleet.js';
import { IntelSet } from '../../src/intel/intel-set.js';
import { createRedis, type RedisClient } from '../../src/intel/redis/connection.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface ApiHarness {
  readonly url: string;
  readonly server: FastifyInstance;
  readonly deps: ApiDeps;
  readonly tokens: Record<Scope, string>;
  /** Redis mode only. */
  readonly redis: RedisServer | null;
  readonly redisDeps: RedisApiDeps | null;
  /** Single-box mode only. */
  readonly set: IntelSet;
  readonly fleet: LocalFleet | null;
  readonly tokensFile: string | null;
  /** A second client on the same Redis (Redis mode), for what other processes do. */
  readonly client: RedisClient | null;
  request(method: string, path: string, options?: { token?: string | null; body?: unknown; raw?: string | Buffer; headers?: Record<string, string> }): Promise<Reply>;
  newToken(name: string, scope: Scope, rateLimit?: number): Promise<string>;
  stop(): Promise<void>;
}

async function toReply(r: Response): Promise<Reply> {
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

function requester(url: string, defaultToken: string) {
  return async (method: string, path: string, options: { token?: string | null; body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const token = options.token === undefined ? defaultToken : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | Buffer | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const r = await fetch(url + path, { method, headers, body });
    return toReply(r);
  };
}

async function issue(store: TokenStore, name: string, scope: Scope, rateLimit?: number): Promise<string> {
  return (await store.create({ name, scope, rateLimit: rateLimit ?? null, createdBy: 'test' })).token;
}

export async function startRedisApi(options: ApiServerOptions = {}): Promise<ApiHarness> {
  const redis = await startRedisServer();
  const client = createRedis({ url: redis.url });
  client.on('error', () => undefined);
  const admin = new RedisTokenStore({ redis: client, keyPrefix: apiPrefixFor(undefined), follow: false });
  const tokens = {
    read: await issue(admin, 'reader', 'read'),
    write: await issue(admin, 'writer', 'write'),
    admin: await issue(admin, 'admin', 'admin'),
  };
  const redisDeps = await createRedisApiDeps({ connection: { url: redis.url } });
  const server = await buildApiServer(redisDeps.deps, { rateLimit: 100_000, closeGraceMs: 300, ...options });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    server,
    deps: redisDeps.deps,
    tokens,
    redis,
    redisDeps,
    set: redisDeps.deps.intel.set,
    fleet: null,
    tokensFile: null,
    client,
    request: requester(url, tokens.admin),
    newToken: (name, scope, rateLimit) => issue(admin, name, scope, rateLimit),
    stop: async () => {
      await server.close();
      await redisDeps.close();
      client.disconnect();
      await redis.destroy();
    },
  };
}

export async function startSingleBoxApi(options: ApiServerOptions = {}): Promise<ApiHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'offpath-api-test-'));
  const tokensFile = join(dir, 'tokens.jsonl');
  const admin = new FileTokenStore(tokensFile, { create: true, watch: false });
  const tokens = {
    read: await issue(admin, 'reader', 'read'),
    write: await issue(admin, 'writer', 'write'),
    admin: await issue(admin, 'admin', 'admin'),
  };
  const set = new IntelSet();
  const fleet = new LocalFleet({ sensorName: 'box' });
  const deps = singleBoxDeps({ set, fleet, tokensFile, auditFile: join(dir, 'audit.jsonl') });
  const server = await buildApiServer(deps, { rateLimit: 100_000, closeGraceMs: 300, ...options });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    server,
    deps,
    tokens,
    redis: null,
    redisDeps: null,
    set,
    fleet,
    tokensFile,
    client: null,
    request: requester(url, tokens.admin),
    newToken: (name, scope, rateLimit) => issue(admin, name, scope, rateLimit),
    stop: async () => {
      await server.close();
      await deps.tokens.close();
      await deps.audit.close();
      await fleet.close();
      await admin.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every 20 ms until it returns a truthy value, or fails after `timeoutMs` (not a timing assertion). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The one error body shape, checked. */
export function expectErrorShape(body: unknown): { code: string; message: string; field: string | null } {
  const e = (body as { error?: unknown })?.error as { code?: unknown; message?: unknown; field?: unknown } | undefined;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || !(e.field === null || typeof e.field === 'string')) {
    throw new Error(`not the error shape: ${JSON.stringify(body)?.slice(0, 300)}`);
  }
  if (Object.keys(body as object).length !== 1 || Object.keys(e).sort().join() !== 'code,field,message') {
    throw new Error(`error body has other keys: ${JSON.stringify(body)?.slice(0, 300)}`);
  }
  return e as { code: string; message: string; field: string | null };
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Opens an SSE stream; `next()` resolves with the next event (comments skipped). */
export async function openSse(url: string, token: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}`, ...headers }, signal: abort.signal });
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: SseEvent[] = [];
  const pump = async (): Promise<void> => {
    const { value, done } = await reader.read();
    if (done) throw new Error('event stream ended');
    buffer += decoder.decode(value, { stream: true });
    let sep: number;
    while ((sep = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, sep);
      buffer = buffer.slice(sep + 2);
      const e: SseEvent = { data: '' };
      let hasData = false;
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const key = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (key === 'id') e.id = value;
        else if (key === 'event') e.event = value;
        else if (key === 'data') {
          e.data += (hasData ? '\n' : '') + value;
          hasData = true;
        }
      }
      if (hasData) queue.push(e);
    }
  };
  return {
    status: r.status,
    headers: r.headers,
    async next(): Promise<SseEvent> {
      while (queue.length === 0) await pump();
      return queue.shift()!;
    },
    close(): void {
      abort.abort();
    },
  };
}
