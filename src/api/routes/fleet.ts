/** The fleet: the enforcement switch, the sensors' heartbeats, and the block events they report. */
import type { FastifyInstance } from 'fastify';
import { compareStreamIds, parseStreamId } from '../../fleet/stream-id.js';
import type { EnforcementMode, EventPage, StoredEvent } from '../../fleet/types.js';
import { actorOf, type RouteContext } from '../context.js';
import { ApiError, badRequest } from '../errors.js';
import { pageLimit, streamCursor, timeParam } from '../params.js';
import { commonErrors, pageQuerySchema } from '../schemas.js';

const enforcementSchema = {
  type: 'object',
  required: ['mode', 'changedAt', 'changedBy'],
  properties: {
    mode: { type: 'string', enum: ['enforce', 'monitor'], description: 'enforce: sensors reset blocked sessions; monitor: every sensor alerts only.' },
    changedAt: { type: ['string', 'null'] },
    changedBy: { type: ['string', 'null'] },
  },
} as const;

const sensorSchema = {
  type: 'object',
  required: ['name', 'interfaces', 'version', 'intelVersion', 'pps', 'drops', 'lastSeen', 'status'],
  properties: {
    name: { type: 'string' },
    interfaces: { type: 'array', items: { type: 'string' } },
    version: { type: 'string', description: 'offpath version of the sensor.' },
    intelVersion: { type: 'number', description: 'Intel version the sensor has applied.' },
    pps: { type: 'number', description: 'Packets per second (last interval).' },
    drops: { type: 'number', description: 'Packets dropped since the sensor started (the interface\'s only when kernelDropsUnknown).' },
    kernelDropsUnknown: { type: 'boolean', description: 'Present (true) when the sensor\'s capture backend cannot count the kernel\'s drops (cap): drops then leaves them out.' },
    mode: { type: 'string', enum: ['enforce', 'monitor'], description: 'Mode the sensor applies.' },
    intervalMs: { type: 'number' },
    lastSeen: { type: 'string' },
    status: { type: 'string', enum: ['up', 'down'], description: 'down after three missed heartbeats.' },
  },
} as const;

const eventSchema = {
  type: 'object',
  required: ['id', 'event'],
  properties: {
    id: { type: 'string', description: 'Ordered id <ms>-<seq>; use as cursor or Last-Event-ID.' },
    event: {
      type: 'object',
      additionalProperties: true,
      description: 'As reported by the sensor: ts, sensor, action, indicator, entryId, source, reason, proto, src, sport, dst, dport, matchedSide, guard, resets, mode.',
    },
  },
} as const;

interface PageQuery {
  since?: string;
  cursor?: string;
  limit?: string;
}

function eventQuery(q: PageQuery, limit: number) {
  if (q.cursor !== undefined && q.since !== undefined) throw badRequest('invalid_field', 'since: give since or cursor, not both', 'since');
  if (q.cursor !== undefined) return { afterId: streamCursor(q.cursor), limit };
  if (q.since !== undefined) {
    // A stream id is accepted as `since` too (exclusive), for clients that keep the last id they saw.
    if (parseStreamId(q.since) !== null) return { afterId: q.since, limit };
    return { sinceMs: timeParam('since', q.since), limit };
  }
  return { limit };
}

export function registerFleetRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const fleet = ctx.deps.fleet;
  const openStreams = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of openStreams) end();
    done();
  });

  app.get('/v1/enforcement', {
    config: { access: 'read' },
    schema: { tags: ['fleet'], summary: 'The fleet-wide enforcement switch', description: 'Scope read.', response: { 200: enforcementSchema, ...commonErrors } },
  }, async () => fleet.enforcement());

  app.put<{ Body: { mode: EnforcementMode } }>('/v1/enforcement', {
    config: { access: 'admin', auditAction: 'enforcement.set' },
    schema: {
      tags: ['fleet'],
      summary: 'Switch the whole fleet between enforce and monitor',
      description: 'Scope admin. Every sensor follows within a second (pub/sub, with a periodic re-read as fallback); a sensor cut off from Redis keeps its last known mode.',
      body: { type: 'object', additionalProperties: false, required: ['mode'], properties: { mode: { type: 'string', enum: ['enforce', 'monitor'] } } },
      response: { 200: enforcementSchema, ...commonErrors },
    },
  }, async (request) => {
    const before = fleet.cachedEnforcement().mode;
    const state = await fleet.setEnforcement(request.body.mode, actorOf(request));
    await ctx.audit(request, 'enforcement.set', { mode: state.mode, previous: before }, 200);
    request.log.warn({ actor: actorOf(request), mode: state.mode }, 'fleet enforcement switched');
    return state;
  });

  app.get('/v1/sensors', {
    config: { access: 'read' },
    schema: {
      tags: ['fleet'],
      summary: 'Sensors and their last heartbeat',
      description: 'Scope read.',
      response: { 200: { type: 'object', required: ['sensors'], properties: { sensors: { type: 'array', items: sensorSchema } } }, ...commonErrors },
    },
  }, async () => ({ sensors: await fleet.sensors() }));

  app.get<{ Querystring: PageQuery }>('/v1/events', {
    config: { access: 'read' },
    schema: {
      tags: ['events'],
      summary: 'Block events reported by the sensors (history)',
      description: 'Scope read. Oldest first. Without since or cursor: the newest `limit` events. Poll with cursor=nextCursor for newer ones.',
      querystring: pageQuerySchema,
      response: {
        200: {
          type: 'object',
          required: ['events', 'nextCursor', 'more'],
          properties: { events: { type: 'array', items: eventSchema }, nextCursor: { type: ['string', 'null'] }, more: { type: 'boolean' } },
        },
        ...commonErrors,
      },
    },
  }, async (request): Promise<EventPage> => fleet.events(eventQuery(request.query, pageLimit(request.query.limit))));

  app.get<{ Querystring: PageQuery }>('/v1/events/stream', {
    config: { access: 'read' },
    schema: {
      tags: ['events'],
      summary: 'Live block events (Server-Sent Events)',
      description:
        'Scope read. text/event-stream; each event is `id: <id>`, `event: block`, `data: {"id":..., "event":{...}}`. ' +
        'With since, cursor or a Last-Event-ID header the stream first replays what came after, then goes live. ' +
        'Comment lines keep the connection alive. A client that reads too slowly is disconnected (reconnect with Last-Event-ID).',
      querystring: pageQuerySchema,
      produces: ['text/event-stream'],
      response: { 200: { description: 'An event stream.', type: 'string' }, ...commonErrors },
    },
  }, async (request, reply) => {
    const q = request.query;
    const lastEventId = request.headers['last-event-id'];
    const resumeFrom = typeof lastEventId === 'string' && parseStreamId(lastEventId) !== null ? { cursor: lastEventId } : {};
    const start = eventQuery({ ...q, ...resumeFrom, ...(resumeFrom.cursor ? { since: undefined } : {}) }, 500);
    if (openStreams.size >= ctx.options.maxEventStreams) {
      throw new ApiError(429, 'too_many_streams', `at most ${ctx.options.maxEventStreams} event streams are open at once; retry later`, null, { 'retry-after': '5' });
    }
    reply.hijack();
    const res = reply.raw;
    // connection: close: a stream that ends (client gone, server closing) takes its connection with it.
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'close', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n: offpath block events\n\n');
    let lastSent: string | null = null;
    let replaying = true;
    let buffered: StoredEvent[] = [];
    let ended = false;
    const send = (e: StoredEvent): void => {
      if (ended || (lastSent !== null && compareStreamIds(e.id, lastSent) <= 0)) return;
      lastSent = e.id;
      res.write(`id: ${e.id}\nevent: block\ndata: ${JSON.stringify(e)}\n\n`);
      // A reader that cannot keep up is cut off rather than buffered without bound.
      if (res.writableLength > 4 << 20) end();
    };
    const unsubscribe = fleet.subscribeEvents((e) => {
      if (replaying) {
        if (buffered.length < 100_000) buffered.push(e);
      } else send(e);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), ctx.options.ssePingMs);
    ping.unref();
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearInterval(ping);
      unsubscribe();
      openStreams.delete(end);
      res.end();
    };
    openStreams.add(end);
    request.raw.on('close', end);
    res.on('close', end);
    res.on('error', end);
    try {
      if (start.afterId !== undefined || start.sinceMs !== undefined) {
        let query: { afterId?: string; sinceMs?: number; limit: number } = start;
        for (;;) {
          const page = await fleet.events(query);
          for (const e of page.events) send(e);
          if (!page.more || ended || page.nextCursor === null) break;
          query = { afterId: page.nextCursor, limit: 500 };
        }
      } else {
        // Live only: nothing older than what is newest now.
        const newest = await fleet.events({ limit: 1 });
        if (newest.events.length > 0) lastSent = newest.events[0]!.id;
      }
    } catch (err) {
      request.log.warn({ err }, 'event stream replay failed');
      res.write(`event: error\ndata: ${JSON.stringify({ error: { code: 'unavailable', message: 'event history could not be read', field: null } })}\n\n`);
    }
    replaying = false;
    const pending = buffered;
    buffered = [];
    for (const e of pending) send(e);
  });
}
