/** GET /v1/audit: the audit trail (admin). */
import type { FastifyInstance } from 'fastify';
import { parseStreamId } from '../../fleet/stream-id.js';
import type { RouteContext } from '../context.js';
import { badRequest } from '../errors.js';
import { pageLimit, streamCursor, timeParam } from '../params.js';
import { commonErrors, pageQuerySchema } from '../schemas.js';

const auditRecordSchema = {
  type: 'object',
  required: ['id', 'time', 'actor', 'tokenId', 'address', 'method', 'route', 'action', 'target', 'outcome', 'status'],
  properties: {
    id: { type: 'string' },
    time: { type: 'string' },
    actor: { type: 'string', description: 'Token name.' },
    tokenId: { type: ['string', 'null'] },
    address: { type: 'string', description: 'Client address.' },
    method: { type: 'string' },
    route: { type: 'string' },
    action: { type: 'string', description: 'block.upsert, block.delete, allow.upsert, allow.delete, bulk.import, enforcement.set, token.create, token.revoke.' },
    target: { type: 'object', additionalProperties: true },
    outcome: { type: 'string', enum: ['ok', 'denied'] },
    status: { type: 'integer' },
  },
} as const;

export function registerAuditRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: { since?: string; cursor?: string; limit?: string } }>('/v1/audit', {
    config: { access: 'admin' },
    schema: {
      tags: ['audit'],
      summary: 'The audit trail: every change, who, when, from where',
      description: 'Scope admin. Oldest first; without since or cursor the newest `limit` records.',
      querystring: pageQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['records', 'nextCursor', 'more'],
          properties: { records: { type: 'array', items: auditRecordSchema }, nextCursor: { type: ['string', 'null'] }, more: { type: 'boolean' } },
        },
        ...commonErrors,
      },
    },
  }, async (request) => {
    const q = request.query;
    const limit = pageLimit(q.limit);
    if (q.cursor !== undefined && q.since !== undefined) throw badRequest('invalid_field', 'since: give since or cursor, not both', 'since');
    if (q.cursor !== undefined) return ctx.deps.audit.read({ afterId: streamCursor(q.cursor), limit });
    if (q.since !== undefined) {
      if (parseStreamId(q.since) !== null) return ctx.deps.audit.read({ afterId: q.since, limit });
      return ctx.deps.audit.read({ sinceMs: timeParam('since', q.since), limit });
    }
    return ctx.deps.audit.read({ limit });
  });
}
