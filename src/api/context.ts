/** What every route module gets: the backends, the resolved options, and the audit helper. */
import type { FastifyRequest } from 'fastify';
import type { AuditValue } from './audit/audit-log.js';
import type { ApiDeps } from './deps.js';

export interface ApiServerOptions {
  /** Largest JSON body in bytes (default 1 MiB). Bulk imports are streamed and limited by lines instead. */
  readonly bodyLimit?: number;
  /** Requests per second per token, unless the token has its own (default 100). */
  readonly rateLimit?: number;
  /** Most lines in one bulk import (default 2,000,000). */
  readonly bulkMaxLines?: number;
  /** Longest line of a bulk import in bytes (default 64 KiB). */
  readonly bulkMaxLineBytes?: number;
  /** Bulk result bytes allowed to wait for a client that sends everything before reading (default 128 MiB). */
  readonly bulkOutputLimit?: number;
  /** Entries per write batch of a bulk import (default 2000). */
  readonly bulkBatchSize?: number;
  /** Most open event streams (SSE) at once (default 64). */
  readonly maxEventStreams?: number;
  /** How long a write waits for this instance's matcher to hold the change (default 2000 ms). */
  readonly applyWaitMs?: number;
  /** Serve /docs and /docs/json without a token (default false). */
  readonly publicDocs?: boolean;
  /** TLS: PEM certificate chain and key. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** A pino logger instance, or false for none (default: none). */
  readonly logger?: import('pino').Logger | false;
  /** Trust X-Forwarded-For from these proxies (Fastify trustProxy), for audit addresses behind a load balancer. */
  readonly trustProxy?: boolean | string | string[];
  /** Log every request (default false: only changes, errors and 5xx are logged). */
  readonly logRequests?: boolean;
  /** Keep-alive ping period of event streams (default 15 s). */
  readonly ssePingMs?: number;
  /** On close, requests in flight get this long to finish before their connections are cut (default 5000 ms). */
  readonly closeGraceMs?: number;
}

export interface ResolvedOptions {
  readonly bodyLimit: number;
  readonly rateLimit: number;
  readonly bulkMaxLines: number;
  readonly bulkMaxLineBytes: number;
  readonly bulkBatchSize: number;
  readonly bulkOutputLimit: number;
  readonly maxEventStreams: number;
  readonly applyWaitMs: number;
  readonly publicDocs: boolean;
  readonly ssePingMs: number;
}

export function resolveOptions(o: ApiServerOptions): ResolvedOptions {
  return {
    bodyLimit: o.bodyLimit ?? 1 << 20,
    rateLimit: o.rateLimit ?? 100,
    bulkMaxLines: o.bulkMaxLines ?? 2_000_000,
    bulkMaxLineBytes: o.bulkMaxLineBytes ?? 64 << 10,
    bulkBatchSize: o.bulkBatchSize ?? 2000,
    bulkOutputLimit: o.bulkOutputLimit ?? 128 << 20,
    maxEventStreams: o.maxEventStreams ?? 64,
    applyWaitMs: o.applyWaitMs ?? 2000,
    publicDocs: o.publicDocs ?? false,
    ssePingMs: o.ssePingMs ?? 15_000,
  };
}

export interface RouteContext {
  readonly deps: ApiDeps;
  readonly options: ResolvedOptions;
  /** Appends an audit record for a change made by this request. */
  audit(request: FastifyRequest, action: string, target: Record<string, AuditValue>, status: number): Promise<void>;
}

export function actorOf(request: FastifyRequest): string {
  return request.principal?.name ?? 'anonymous';
}
