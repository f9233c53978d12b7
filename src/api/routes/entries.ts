/**
 * Blocks (/v1/blocks: block and monitor entries) and the allowlist (/v1/allowlist: allow entries): the same
 * operations on two disjoint sets of actions. An entry is (source, id); both default (source "api", id = the
 * canonical indicator), so posting the same indicator again updates the entry instead of adding another.
 * A block and an allow entry never replace each other: posting one where the other has the same identity is a
 * 409, so an analyst cannot silently turn a protected asset into a blocked one (or the reverse).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IntelAction } from '../../intel/action.js';
import { wallClockSeconds } from '../../intel/expiry.js';
import type { IndicatorKind } from '../../intel/indicator.js';
import { actorOf, type RouteContext } from '../context.js';
import type { ApiEntry } from '../deps.js';
import { DEFAULT_API_SOURCE, validateEntry, type EntryBody } from '../entry-input.js';
import { ApiError, badRequest, conflict, notFound, quoteInput } from '../errors.js';
import { pageLimit, timeParam } from '../params.js';
import {
  allowBodySchema, blockBodySchema, commonErrors, deleteByIndicatorQuerySchema, entryResponseSchema, errorRef, idParamsSchema,
  listQuerySchema, listResponseSchema, removedResponseSchema, sourceQuerySchema, upsertResponseSchema,
} from '../schemas.js';

export interface EntryCollection {
  /** URL base, e.g. /v1/blocks. */
  readonly base: string;
  /** OpenAPI tag. */
  readonly tag: string;
  /** Actions this collection holds. */
  readonly actions: readonly IntelAction[];
  /** Audit action prefix: block, allow. */
  readonly auditName: string;
  readonly noun: string;
}

export const BLOCKS: EntryCollection = { base: '/v1/blocks', tag: 'blocks', actions: ['block', 'monitor'], auditName: 'block', noun: 'block' };
export const ALLOWLIST: EntryCollection = { base: '/v1/allowlist', tag: 'allowlist', actions: ['allow'], auditName: 'allow', noun: 'allowlist entry' };

interface ListQueryText {
  cursor?: string;
  limit?: string;
  kind?: IndicatorKind;
  action?: IntelAction;
  source?: string;
  tag?: string;
  expiringBefore?: string;
}

export function registerEntryRoutes(app: FastifyInstance, ctx: RouteContext, c: EntryCollection): void {
  const intel = ctx.deps.intel;
  const isBlocks = c.actions.includes('block');
  const other = isBlocks ? '/v1/allowlist' : '/v1/blocks';

  app.post<{ Body: EntryBody }>(c.base, {
    config: { access: 'write', auditAction: `${c.auditName}.upsert` },
    schema: {
      tags: [c.tag],
      summary: isBlocks ? 'Create or update a block (idempotent on source + indicator)' : 'Create or update an allowlist entry (allow always wins)',
      description: isBlocks
        ? 'Scope write (admin with force). 201 when created, 200 when an existing entry (same source and id) was replaced.'
        : 'Scope write. A matching allow entry beats every block, on either side of a session.',
      body: isBlocks ? blockBodySchema : allowBodySchema,
      response: {
        200: upsertResponseSchema,
        201: upsertResponseSchema,
        ...commonErrors,
        409: { description: `The same source and id is ${isBlocks ? 'an allowlist entry' : 'a block'}.`, ...errorRef },
      },
    },
  }, async (request, reply) => {
    const body = request.body;
    const action: IntelAction = isBlocks ? (body.action ?? 'block') : 'allow';
    const checked = validateEntry(body, action, wallClockSeconds());
    if (checked.overBroad !== null) {
      if (body.force !== true) throw badRequest('over_broad', `indicator: ${checked.overBroad}; send "force": true (admin scope) if you mean it`, 'indicator');
      if (request.principal?.scope !== 'admin') throw new ApiError(403, 'forbidden', 'an over-broad block needs a token with scope admin');
    }
    const source = checked.prepared.source;
    const id = checked.prepared.explicitId ?? checked.prepared.indicator.text;
    const existing = await intel.get(source, id);
    if (existing !== null && !c.actions.includes(existing.action)) {
      throw conflict(`${quoteInput(id)} from source ${quoteInput(source)} is ${existing.action === 'allow' ? 'on the allowlist' : `a ${existing.action} entry`}; delete it at ${other} first`, 'indicator');
    }
    const meta = { actor: actorOf(request), address: request.ip };
    const outcome = await intel.upsert(checked.input, meta);
    const status = outcome.created ? 201 : 200;
    // The audit record and this instance's matcher catching up are independent: wait for both at once.
    const [applied] = await Promise.all([
      outcome.applied ? true : intel.waitApplied(outcome.version, ctx.options.applyWaitMs),
      ctx.audit(request, `${c.auditName}.upsert`, auditTarget(outcome.entry, { created: outcome.created, version: outcome.version }), status),
    ]);
    return reply.code(status).send({ ...outcome, applied });
  });

  app.get<{ Querystring: ListQueryText }>(c.base, {
    config: { access: 'read' },
    schema: {
      tags: [c.tag],
      summary: `List ${c.tag} (filters, cursor pagination)`,
      description: 'Scope read. Filters combine (AND). Pages follow nextCursor until it is null.',
      querystring: listQuerySchema(c.actions),
      response: { 200: listResponseSchema, ...commonErrors },
    },
  }, async (request) => {
    const q = request.query;
    return intel.list({
      cursor: q.cursor,
      limit: pageLimit(q.limit),
      kind: q.kind,
      actions: q.action ? [q.action] : c.actions,
      source: q.source,
      tag: q.tag,
      expiringBefore: q.expiringBefore === undefined ? undefined : Math.floor(timeParam('expiringBefore', q.expiringBefore) / 1000),
    });
  });

  const getOne = async (request: FastifyRequest<{ Params: { id: string }; Querystring: { source?: string } }>): Promise<ApiEntry> => {
    const source = request.query.source ?? DEFAULT_API_SOURCE;
    const entry = await intel.get(source, request.params.id);
    if (entry === null || !c.actions.includes(entry.action)) {
      throw notFound(`no ${c.noun} with id ${quoteInput(request.params.id)} in source ${quoteInput(source)}`);
    }
    return entry;
  };

  app.get<{ Params: { id: string }; Querystring: { source?: string } }>(`${c.base}/:id`, {
    config: { access: 'read' },
    schema: {
      tags: [c.tag],
      summary: `Get one ${c.noun} by id`,
      description: 'Scope read. The id of a default entry is its canonical indicator, URL-encoded (198.51.100.0%2F24).',
      params: idParamsSchema,
      querystring: sourceQuerySchema,
      response: { 200: entryResponseSchema, ...commonErrors, 404: { description: 'No such entry.', ...errorRef } },
    },
  }, async (request) => ({ entry: await getOne(request) }));

  app.delete<{ Params: { id: string }; Querystring: { source?: string } }>(`${c.base}/:id`, {
    config: { access: 'write', auditAction: `${c.auditName}.delete` },
    schema: {
      tags: [c.tag],
      summary: `Delete one ${c.noun} by id`,
      description: 'Scope write.',
      params: idParamsSchema,
      querystring: sourceQuerySchema,
      response: { 200: removedResponseSchema, ...commonErrors, 404: { description: 'No such entry.', ...errorRef } },
    },
  }, async (request, reply) => {
    const entry = await getOne(request);
    const removed = await intel.remove(entry.source, entry.id, { actor: actorOf(request), address: request.ip });
    if (removed === null) throw notFound(`no ${c.noun} with id ${quoteInput(entry.id)} in source ${quoteInput(entry.source)}`);
    await ctx.audit(request, `${c.auditName}.delete`, auditTarget(removed, {}), 200);
    return reply.send({ removed: [removed] });
  });

  app.delete<{ Querystring: { indicator: string; source?: string } }>(c.base, {
    config: { access: 'write', auditAction: `${c.auditName}.delete` },
    schema: {
      tags: [c.tag],
      summary: `Delete ${c.tag} by indicator`,
      description: `Scope write. Removes every ${c.noun} with this indicator (from one source with source=, else from all).`,
      querystring: deleteByIndicatorQuerySchema,
      response: { 200: removedResponseSchema, ...commonErrors, 404: { description: 'Nothing has this indicator.', ...errorRef } },
    },
  }, async (request: FastifyRequest<{ Querystring: { indicator: string; source?: string } }>, reply: FastifyReply) => {
    const { indicator, source } = request.query;
    const found = (await intel.findByIndicator(indicator, c.actions)).filter((e) => source === undefined || e.source === source);
    const meta = { actor: actorOf(request), address: request.ip };
    const removed: ApiEntry[] = [];
    for (const entry of found) {
      const gone = await intel.remove(entry.source, entry.id, meta);
      if (gone !== null) removed.push(gone);
    }
    if (removed.length === 0) throw notFound(`no ${c.noun} has indicator ${quoteInput(indicator)}${source === undefined ? '' : ` in source ${quoteInput(source)}`}`);
    for (const entry of removed) await ctx.audit(request, `${c.auditName}.delete`, auditTarget(entry, {}), 200);
    return reply.send({ removed });
  });
}

function auditTarget(entry: ApiEntry, extra: Record<string, string | number | boolean | null>): Record<string, string | number | boolean | null> {
  return {
    indicator: entry.indicator,
    source: entry.source,
    id: entry.id,
    action: entry.action,
    expiresAt: entry.expiresAt,
    reason: entry.reason,
    ...extra,
  };
}
