/**
 * buildApiServer: the blocking API as a Fastify instance, on whichever backends it is given (Redis mode or
 * single-box mode, see deps.ts). The caller listens and closes; closing the server does not close the backends.
 *
 * Order matters: error handling and authentication are installed before any route, so every route (the
 * OpenAPI plugin's included) gets the authenticator from its `config.access`.
 */
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { AuditValue } from './audit/audit-log.js';
import { authenticateAsync, installAuthentication } from './auth/authenticate.js';
import { RateLimiter } from './auth/rate-limiter.js';
import { actorOf, resolveOptions, type ApiServerOptions, type RouteContext } from './context.js';
import type { ApiDeps } from './deps.js';
import { frameworkErrors, installErrorHandling, installNotFound } from './error-handler.js';
import { InFlightHandlers } from './in-flight.js';
import { registerAuditRoute } from './routes/audit.js';
import { NDJSON, registerBulkRoute } from './routes/bulk.js';
import { registerCheckRoute } from './routes/check.js';
import { ALLOWLIST, BLOCKS, registerEntryRoutes } from './routes/entries.js';
import { registerFleetRoutes } from './routes/fleet.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { sharedSchemas } from './schemas.js';

export type { ApiServerOptions } from './context.js';

export function offpathVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    if (pkg.version) return pkg.version;
  } catch {
    // running from the sources (vitest): one level less
  }
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export async function buildApiServer(deps: ApiDeps, options: ApiServerOptions = {}): Promise<FastifyInstance> {
  const resolved = resolveOptions(options);
  const version = offpathVersion();
  const serverOptions: FastifyServerOptions & { https?: { cert: string | Buffer; key: string | Buffer } | null } = {
    bodyLimit: resolved.bodyLimit,
    // Ids can be 256 characters, percent-encoded up to three times that.
    routerOptions: { maxParamLength: 800 },
    // Per-request lines cost more than a check itself; changes are logged by the audit helper instead.
    logController: new LogController({ disableRequestLogging: options.logRequests !== true }),
    trustProxy: options.trustProxy ?? false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: {
        // Unknown fields are an error (not silently dropped), and types are never coerced: "3600" is not 3600.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
        allowUnionTypes: true,
      },
    },
    frameworkErrors,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
  };
  if (options.logger) {
    (serverOptions as { loggerInstance?: unknown }).loggerInstance = options.logger;
    // A child logger per request costs more than a check; without request logging the few lines logged (changes,
    // errors) go through the server's logger as they are.
    if (options.logRequests !== true) serverOptions.childLoggerFactory = (logger) => logger;
  }
  const app = Fastify(serverOptions) as unknown as FastifyInstance;

  installErrorHandling(app);
  // close(): event streams end at once (routes/fleet.ts), other requests in flight get a grace period, then every
  // connection still open (a client that never sends its request, a stuck upload) is cut, so shutdown is bounded.
  // close() resolves only once the handlers still running have finished (or the grace period is over), so that
  // the caller can close the backends under no handler, even one whose client has gone.
  const graceMs = options.closeGraceMs ?? 5000;
  const handlers = new InFlightHandlers();
  handlers.install(app);
  app.addHook('preClose', (done) => {
    setTimeout(() => app.server.closeAllConnections(), graceMs).unref();
    done();
  });
  app.addHook('onClose', async () => {
    // A second longer than the grace period: a handler whose connection is cut at its end still winds down.
    if (!(await handlers.idle(graceMs + 1000))) app.log.warn({ handlers: handlers.count }, 'closing with request handlers still running after the grace period');
  });
  const limiter = new RateLimiter(resolved.rateLimit);
  const authOptions = { tokens: deps.tokens, limiter, audit: deps.audit, publicDocs: resolved.publicDocs };
  installAuthentication(app, authOptions);
  installNotFound(app, authenticateAsync(authOptions, 'read'));
  for (const schema of sharedSchemas) app.addSchema(schema);
  // An empty body with Content-Type: application/json (some SOAR tools send it on DELETE) is no body, not bad JSON.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body !== 'string' && body.length === 0)) return done(null, undefined);
    return jsonParser(request, body as string, done);
  });
  // The bulk route reads the raw request stream itself (never buffered whole).
  app.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'offpath blocking API',
        version,
        description:
          'Block, unblock and check addresses across an offpath sensor fleet. Every route but /healthz and /readyz needs ' +
          '"Authorization: Bearer <token>"; scopes are read < write < admin. Errors always have the shape ' +
          '{"error":{"code","message","field"}}.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'opk_<id>_<secret> from offpath token create' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'check', description: 'Verdicts from the sensors\' own matcher' },
        { name: 'blocks', description: 'Block and monitor entries' },
        { name: 'allowlist', description: 'Protected assets: allow always wins' },
        { name: 'fleet', description: 'Enforcement switch and sensors' },
        { name: 'events', description: 'Block events from the sensors' },
        { name: 'audit', description: 'Who changed what' },
        { name: 'tokens', description: 'API tokens' },
        { name: 'health', description: 'Health and status' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const ctx: RouteContext = {
    deps,
    options: resolved,
    audit: async (request, action, target: Record<string, AuditValue>, status) => {
      const record = await deps.audit.append({
        actor: actorOf(request),
        tokenId: request.principal?.id ?? null,
        address: request.ip,
        method: request.method,
        route: request.routeOptions.url ?? request.url.slice(0, 200),
        action,
        target,
        outcome: 'ok',
        status,
      });
      request.log.info({ audit: record }, 'change');
    },
  };
  registerHealthRoutes(app, ctx, version);
  registerCheckRoute(app, ctx);
  registerEntryRoutes(app, ctx, BLOCKS);
  registerBulkRoute(app, ctx);
  registerEntryRoutes(app, ctx, ALLOWLIST);
  registerFleetRoutes(app, ctx);
  registerAuditRoute(app, ctx);
  registerTokenRoutes(app, ctx);
  await app.ready();
  return app;
}
