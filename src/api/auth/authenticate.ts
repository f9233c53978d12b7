/**
 * Bearer-token authentication, scope check and per-token rate limit, as one onRequest hook added to every route
 * (plugins' routes included, via onRoute) according to the route's `config.access`. Routes without an access
 * level need `read`: only routes marked `public` (the health endpoints) answer without a token.
 *
 * The common case (a token the cache knows, within its rate, with the scope) runs synchronously: no promise per
 * request on the path every `check` takes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler, RouteOptions } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import { ApiError } from '../errors.js';
import type { RateLimiter } from './rate-limiter.js';
import { scopeAllows, type RouteAccess, type Scope } from './scopes.js';
import { constantTimeEqual, tokenId, tokenMatches } from './token-secret.js';
import type { TokenRecord, TokenStore } from './token-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated token, or null on public routes. */
    principal: TokenRecord | null;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** Audit action name of a changing route: refused attempts are audited too. */
    auditAction?: string;
  }
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="offpath"' };

export interface AuthOptions {
  readonly tokens: TokenStore;
  readonly limiter: RateLimiter;
  readonly audit: AuditLog;
  /** Serve /docs without a token. */
  readonly publicDocs: boolean;
}

/**
 * The token text that matched a record's hash, kept in this process's memory only (records are replaced, never
 * changed, so a revoked or re-read record starts over): later requests compare against it in constant time
 * instead of hashing again, which costs more than the rest of a check.
 */
const verified = new WeakMap<TokenRecord, string>();

function matches(token: string, record: TokenRecord): boolean {
  const known = verified.get(record);
  if (known !== undefined) return constantTimeEqual(token, known);
  if (!tokenMatches(token, record.hash)) return false;
  verified.set(record, token);
  return true;
}

export function makeAuthenticator(options: AuthOptions, access: Scope, auditAction: string | undefined) {
  const { tokens, limiter, audit } = options;

  /** Everything after the token lookup; throws ApiError, or returns a promise only when it must audit. */
  const admit = (request: FastifyRequest, token: string, record: TokenRecord | undefined): Promise<void> | undefined => {
    if (record === undefined || !matches(token, record)) {
      throw new ApiError(401, 'invalid_token', 'the bearer token is not valid (malformed or unknown)', null, CHALLENGE);
    }
    if (record.revokedAt !== null) {
      limiter.forget(record.id);
      throw new ApiError(401, 'token_revoked', `token ${record.name} was revoked at ${record.revokedAt}`, null, CHALLENGE);
    }
    const rate = limiter.take(record.id, record.rateLimit);
    if (!rate.allowed) {
      throw new ApiError(429, 'rate_limited', `too many requests for token ${record.name}; retry in ${rate.retryAfterSeconds} s`, null, {
        'retry-after': String(rate.retryAfterSeconds),
      });
    }
    if (!scopeAllows(record.scope, access)) {
      const refused = new ApiError(403, 'forbidden', `this needs a token with scope ${access}; token ${record.name} has ${record.scope}`);
      if (auditAction === undefined) throw refused;
      return audit.append({
        actor: record.name,
        tokenId: record.id,
        address: request.ip,
        method: request.method,
        route: request.routeOptions.url ?? request.url.slice(0, 200),
        action: auditAction,
        target: {},
        outcome: 'denied',
        status: 403,
      }).then(() => {
        throw refused;
      });
    }
    request.principal = record;
    return undefined;
  };

  const authenticate = (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    let pending: Promise<void> | undefined;
    try {
      const header = request.headers.authorization;
      if (header === undefined || header === '') {
        throw new ApiError(401, 'unauthorized', 'this endpoint needs a token: send "Authorization: Bearer <token>"', null, CHALLENGE);
      }
      const token = header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer ' ? header.slice(7).trim() : '';
      const id = token === '' ? null : tokenId(token);
      const cached = id === null ? undefined : tokens.lookup(id);
      if (id !== null && cached === undefined) {
        // A token created a moment ago by another process: one read of the store (misses are remembered).
        pending = tokens.lookupMissing(id).then((record) => admit(request, token, record));
      } else {
        pending = admit(request, token, cached);
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    if (pending === undefined) done();
    else pending.then(() => done(), (err: Error) => done(err));
  };
  return authenticate;
}

/** The authenticator as a promise-returning function (for preHandler use, e.g. the not-found handler). */
export function authenticateAsync(options: AuthOptions, access: Scope) {
  const hook = makeAuthenticator(options, access, undefined);
  return (request: FastifyRequest, reply: FastifyReply): Promise<void> =>
    new Promise((resolve, reject) => hook(request, reply, (err?: Error) => (err ? reject(err) : resolve())));
}

/** Adds the authenticator to every route registered after this call, following each route's config.access. */
export function installAuthentication(app: FastifyInstance, options: AuthOptions): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config ?? {}) as { access?: RouteAccess; auditAction?: string };
    let access: RouteAccess = config.access ?? 'read';
    if (options.publicDocs && route.url.startsWith('/docs')) access = 'public';
    if (access === 'public') return;
    const hook = makeAuthenticator(options, access, config.auditAction) as unknown as onRequestHookHandler;
    const existing = route.onRequest;
    route.onRequest = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
