/**
 * GET /v1/check: what would a sensor do with traffic to or from this address? Answered by the very matcher the
 * sensors run (IntelSet.matchV4 / matchV6, and decideSession when a peer is given), on this instance's copy of
 * the intel, plus the fleet's enforcement switch.
 */
import type { FastifyInstance } from 'fastify';
import { wallClockSeconds } from '../../intel/expiry.js';
import { decideSession } from '../../intel/precedence.js';
import type { IntelSet } from '../../intel/intel-set.js';
import { parseIPv4, parseIPv6 } from '../../net/address.js';
import type { RouteContext } from '../context.js';
import { apiEntryFromHandle } from '../entry-view.js';
import { badRequest, quoteInput } from '../errors.js';
import { commonErrors, digits } from '../schemas.js';

interface CheckQuery {
  ip: string;
  port?: string;
  protocol?: 'tcp' | 'udp' | 'any';
  peer?: string;
  peerPort?: string;
}

const PROTOCOLS = { tcp: 6, udp: 17, any: 0 } as const;

const checkQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ip'],
  properties: {
    ip: { type: 'string', minLength: 1, maxLength: 64, description: 'IPv4 or IPv6 address (brackets allowed for IPv6).' },
    port: { ...digits(5), description: 'Port 1-65535: port-qualified entries then match too.' },
    protocol: { type: 'string', enum: ['tcp', 'udp', 'any'], description: 'Transport of the port (default any).' },
    peer: { type: 'string', minLength: 1, maxLength: 64, description: 'The other endpoint of a session: the session is decided as a sensor decides it.' },
    peerPort: { ...digits(5), description: 'Port of the peer.' },
  },
} as const;

const checkResponseSchema = {
  type: 'object',
  required: ['verdict', 'effect', 'enforcement', 'matched', 'entry', 'intelVersion'],
  properties: {
    verdict: { type: 'string', enum: ['block', 'monitor', 'allow', 'none'], description: 'Action of the deciding entry, none when nothing matched.' },
    effect: { type: 'string', enum: ['reset', 'alert', 'none'], description: 'What a sensor does: reset (block while enforcing), alert, or nothing.' },
    enforcement: { type: 'string', enum: ['enforce', 'monitor'], description: 'The fleet-wide enforcement switch.' },
    matched: { type: ['string', 'null'], enum: ['ip', 'peer', null], description: 'Which endpoint the deciding entry matched.' },
    entry: { anyOf: [{ $ref: 'Entry#' }, { type: 'null' }], description: 'The entry that decided.' },
    intelVersion: { type: 'integer', description: 'Version of the intel this instance answered from.' },
  },
} as const;

export function registerCheckRoute(app: FastifyInstance, ctx: RouteContext): void {
  const scratch = new Uint32Array(4);
  const set: IntelSet = ctx.deps.intel.set;
  const entries = new EntryJsonCache(set);

  /** Handle of the entry deciding one endpoint, or -1. */
  const matchEndpoint = (field: string, text: string, port: number, proto: number, now: number): number => {
    const v4 = parseIPv4(text);
    if (v4 >= 0) return set.matchV4(v4, port, proto, now);
    const bare = text.length > 2 && text.charCodeAt(0) === 91 && text.charCodeAt(text.length - 1) === 93 ? text.slice(1, -1) : text;
    if (parseIPv6(bare, scratch)) return set.matchV6(scratch[0]!, scratch[1]!, scratch[2]!, scratch[3]!, port, proto, now);
    throw badRequest('invalid_ip', `${field}: ${quoteInput(text)} is not an IPv4 or IPv6 address`, field);
  };

  app.get<{ Querystring: CheckQuery }>('/v1/check', {
    config: { access: 'read' },
    schema: {
      tags: ['check'],
      summary: 'Is this address (and port) blocked? The verdict and the entry that decided it',
      description: 'Scope read. Same precedence as the sensors: allow wins anywhere, then the most specific block or monitor.',
      querystring: checkQuerySchema,
      response: { 200: checkResponseSchema, ...commonErrors },
    },
  }, (request, reply) => {
    const q = request.query;
    const port = portParam('port', q.port);
    const peerPort = portParam('peerPort', q.peerPort);
    if (q.peerPort !== undefined && q.peer === undefined) throw badRequest('invalid_field', 'peerPort: needs peer', 'peerPort');
    const proto = PROTOCOLS[q.protocol ?? 'any'];
    const now = wallClockSeconds();
    const a = matchEndpoint('ip', q.ip, port, proto, now);
    let decided = a;
    if (q.peer !== undefined) decided = decideSession(set, a, matchEndpoint('peer', q.peer, peerPort, proto, now));
    // Built by hand (the response schema documents it): this is the API's hottest route.
    const enforcement = ctx.deps.fleet.cachedEnforcement().mode;
    let body: string;
    if (decided < 0) {
      body = `{"verdict":"none","effect":"none","enforcement":"${enforcement}","matched":null,"entry":null,"intelVersion":${set.version}}`;
    } else {
      const verdict = set.actionOf(decided);
      const effect = verdict === 'allow' ? 'none' : verdict === 'block' && enforcement === 'enforce' ? 'reset' : 'alert';
      body = `{"verdict":"${verdict}","effect":"${effect}","enforcement":"${enforcement}","matched":"${decided === a ? 'ip' : 'peer'}","entry":${entries.json(decided)},"intelVersion":${set.version}}`;
    }
    return reply.type('application/json; charset=utf-8').send(body);
  });
}

/**
 * Entry JSON by handle, valid for one set version (a handle may name another entry after any change): a busy
 * indicator is serialised once per change, not once per check.
 */
class EntryJsonCache {
  private readonly cache = new Map<number, string>();
  private version = -1;

  constructor(private readonly set: IntelSet) {}

  json(handle: number): string {
    if (this.set.version !== this.version || this.cache.size >= 10_000) {
      this.cache.clear();
      this.version = this.set.version;
    }
    let text = this.cache.get(handle);
    if (text === undefined) {
      text = JSON.stringify(apiEntryFromHandle(this.set, handle));
      this.cache.set(handle, text);
    }
    return text;
  }
}

function portParam(field: string, text: string | undefined): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest('invalid_port', `${field}: must be a port from 1 to 65535`, field);
  return n;
}
