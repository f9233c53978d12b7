/** Health (no token) and status (read). */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.js';
import { commonErrors } from '../schemas.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: RouteContext, version: string): void {
  app.get('/healthz', {
    config: { access: 'public' },
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      description: 'No token.',
      security: [],
      response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } },
    },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    config: { access: 'public' },
    schema: {
      tags: ['health'],
      summary: 'Readiness: the intel backend is usable',
      description: 'No token. 503 while the backend (Redis) is unreachable or the first intel snapshot is not loaded.',
      security: [],
      response: {
        200: { type: 'object', properties: { status: { type: 'string', enum: ['ready'] } } },
        503: { type: 'object', properties: { status: { type: 'string', enum: ['not_ready'] } } },
      },
    },
  }, async (_request, reply) => {
    const ok = ctx.deps.intel.health().ok;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready' });
  });

  app.get('/v1/status', {
    config: { access: 'read' },
    schema: {
      tags: ['health'],
      summary: 'What this API instance serves from',
      description: 'Scope read: mode, intel version and counts, enforcement switch, backend state.',
      response: {
        200: {
          type: 'object',
          properties: {
            version: { type: 'string' },
            mode: { type: 'string', enum: ['redis', 'memory'] },
            intelVersion: { type: 'integer' },
            entries: { type: 'integer' },
            byAction: { type: 'object', additionalProperties: { type: 'integer' } },
            byKind: { type: 'object', additionalProperties: { type: 'integer' } },
            enforcement: { type: 'string', enum: ['enforce', 'monitor'] },
            backend: { type: 'object', additionalProperties: true },
          },
        },
        ...commonErrors,
      },
    },
  }, async () => {
    const set = ctx.deps.intel.set;
    const counts = set.counts();
    const health = ctx.deps.intel.health();
    return {
      version,
      mode: ctx.deps.intel.mode,
      intelVersion: set.version,
      entries: counts.total,
      byAction: counts.byAction,
      byKind: counts.byKind,
      enforcement: ctx.deps.fleet.cachedEnforcement().mode,
      backend: { ok: health.ok, ...health.detail },
    };
  });
}
