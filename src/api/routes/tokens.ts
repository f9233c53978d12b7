/** Token management over the API (admin): create (the token is in the response, once), list, revoke. */
import type { FastifyInstance } from 'fastify';
import { tokenInfo } from '../auth/token-store.js';
import { actorOf, type RouteContext } from '../context.js';
import { notFound, quoteInput } from '../errors.js';
import { commonErrors, errorRef } from '../schemas.js';
import type { Scope } from '../auth/scopes.js';

const tokenInfoSchema = {
  type: 'object',
  required: ['id', 'name', 'scope', 'createdAt', 'createdBy', 'revokedAt', 'revokedBy', 'rateLimit'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scope: { type: 'string', enum: ['read', 'write', 'admin'] },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'] },
    revokedBy: { type: ['string', 'null'] },
    rateLimit: { type: ['integer', 'null'], description: 'Requests per second; null = the server default.' },
  },
} as const;

export function registerTokenRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const tokens = ctx.deps.tokens;

  app.get('/v1/tokens', {
    config: { access: 'admin' },
    schema: {
      tags: ['tokens'],
      summary: 'List tokens (never their secrets)',
      description: 'Scope admin.',
      response: { 200: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: tokenInfoSchema } } }, ...commonErrors },
    },
  }, async () => ({ tokens: (await tokens.list()).map(tokenInfo) }));

  app.post<{ Body: { name: string; scope: Scope; rateLimit?: number } }>('/v1/tokens', {
    config: { access: 'admin', auditAction: 'token.create' },
    schema: {
      tags: ['tokens'],
      summary: 'Create a token (shown once in the response)',
      description: 'Scope admin. Only its SHA-256 is stored.',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'scope'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@:-]+$' },
          scope: { type: 'string', enum: ['read', 'write', 'admin'] },
          rateLimit: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Requests per second for this token.' },
        },
      },
      response: {
        201: { type: 'object', required: ['token', 'info'], properties: { token: { type: 'string', description: 'The bearer token: store it now.' }, info: tokenInfoSchema } },
        ...commonErrors,
        409: { description: 'An active token already has this name.', ...errorRef },
      },
    },
  }, async (request, reply) => {
    const { record, token } = await tokens.create({ ...request.body, createdBy: actorOf(request) });
    await ctx.audit(request, 'token.create', { tokenId: record.id, name: record.name, scope: record.scope }, 201);
    return reply.code(201).send({ token, info: tokenInfo(record) });
  });

  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', {
    config: { access: 'admin', auditAction: 'token.revoke' },
    schema: {
      tags: ['tokens'],
      summary: 'Revoke a token (by id or name)',
      description: 'Scope admin. Refused everywhere within about a second.',
      params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } },
      response: { 200: { type: 'object', required: ['info'], properties: { info: tokenInfoSchema } }, ...commonErrors, 404: { description: 'No active token.', ...errorRef } },
    },
  }, async (request) => {
    const revoked = await tokens.revoke(request.params.id, actorOf(request));
    if (revoked === null) throw notFound(`no active token with id or name ${quoteInput(request.params.id)}`);
    await ctx.audit(request, 'token.revoke', { tokenId: revoked.id, name: revoked.name, scope: revoked.scope }, 200);
    return { info: tokenInfo(revoked) };
  });
}
