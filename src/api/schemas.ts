/**
 * JSON schemas of the API: request validation (Fastify + Ajv, unknown fields refused: additionalProperties false,
 * and no type coercion, so a wrong type is a 400, never a silent conversion), fast response serialisation, and
 * the OpenAPI document served at /docs. Query-string values are strings on the wire and are declared as such
 * (with patterns); routes convert them.
 */
import type {} from '@fastify/swagger'; // adds tags, summary... to route schemas
import { INDICATOR_KINDS } from '../intel/indicator.js';
import { MAX_TTL_SECONDS } from './entry-input.js';
import { errorBodySchema } from './errors.js';

export const entrySchema = {
  $id: 'Entry',
  type: 'object',
  description: 'One intel entry. Identity is (source, id); id defaults to the canonical indicator.',
  required: ['id', 'source', 'indicator', 'kind', 'action', 'expiresAt', 'reason', 'tags'],
  properties: {
    id: { type: 'string' },
    source: { type: 'string' },
    indicator: { type: 'string', description: 'Canonical indicator text.' },
    kind: { type: 'string', enum: [...INDICATOR_KINDS] },
    action: { type: 'string', enum: ['block', 'monitor', 'allow'] },
    expiresAt: { type: ['string', 'null'], description: 'ISO-8601 time, null = never.' },
    reason: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const sharedSchemas = [errorBodySchema, entrySchema] as const;

const entryRef = { $ref: 'Entry#' } as const;
export const errorRef = { $ref: 'ErrorBody#' } as const;

/** Error responses every authenticated route can give. */
export const commonErrors = {
  400: { description: 'Invalid input; `error.field` names the field.', ...errorRef },
  401: { description: 'Missing, invalid or revoked token.', ...errorRef },
  403: { description: 'The token lacks the scope.', ...errorRef },
  429: { description: 'Rate limit of the token exceeded; see Retry-After.', ...errorRef },
} as const;

const entryBodyProperties = {
  indicator: {
    type: 'string',
    minLength: 1,
    maxLength: 300,
    description: 'IPv4, IPv6, CIDR, IP:port[/tcp|/udp], [IPv6]:port[/tcp|/udp] or a domain name.',
    examples: ['198.51.100.7', '203.0.113.0/24', '198.51.100.7:443/tcp', '2001:db8::1', 'bad.example.com'],
  },
  ttl: {
    type: ['integer', 'string'],
    minimum: 1,
    maximum: MAX_TTL_SECONDS,
    maxLength: 32,
    description: 'Time to live: seconds (3600) or a number with a unit (90s, 15m, 2h, 7d, 2w). Exclusive with expires.',
  },
  expires: {
    type: ['integer', 'string'],
    maxLength: 64,
    description: 'Absolute expiry: ISO-8601 time or epoch seconds. Exclusive with ttl. Absent = never.',
  },
  reason: { type: 'string', maxLength: 1024, description: 'Why (shown in events and to analysts).' },
  source: { type: 'string', minLength: 1, maxLength: 128, description: 'Feed or team name; default "api".' },
  tags: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 128 } },
  id: { type: 'string', minLength: 1, maxLength: 256, description: 'Stable id within the source; default: the canonical indicator.' },
} as const;

export const blockBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['indicator'],
  properties: {
    ...entryBodyProperties,
    action: { type: 'string', enum: ['block', 'monitor'], description: 'block (reset sessions, default) or monitor (alert only).' },
    force: { type: 'boolean', description: 'Accept an over-broad block (IPv4 shorter than /16, IPv6 shorter than /32); needs admin.' },
  },
} as const;

export const allowBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['indicator'],
  properties: entryBodyProperties,
} as const;

export const upsertResponseSchema = {
  type: 'object',
  required: ['entry', 'created', 'version', 'applied'],
  properties: {
    entry: entryRef,
    created: { type: 'boolean', description: 'true: a new entry (201); false: an existing one was replaced (200).' },
    version: { type: 'integer', description: 'Intel version after the change.' },
    applied: { type: 'boolean', description: 'Whether this API instance\'s own matcher (check) already holds the change.' },
  },
} as const;

export const entryResponseSchema = { type: 'object', required: ['entry'], properties: { entry: entryRef } } as const;

export const removedResponseSchema = {
  type: 'object',
  required: ['removed'],
  properties: { removed: { type: 'array', items: entryRef } },
} as const;

export const listResponseSchema = {
  type: 'object',
  required: ['entries', 'nextCursor'],
  properties: {
    entries: { type: 'array', items: entryRef },
    nextCursor: { type: ['string', 'null'], description: 'Pass as cursor for the next page; null at the end.' },
  },
} as const;

/** Query-string numbers: decimal digits only (no coercion; the route range-checks). */
export const digits = (max: number) => ({ type: 'string', pattern: `^[0-9]{1,${max}}$` }) as const;

export const listQuerySchema = (actions: readonly string[]) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: {
      cursor: { type: 'string', maxLength: 200, description: 'nextCursor of the previous page.' },
      limit: { ...digits(4), description: 'Entries per page, 1-1000 (default 100).' },
      kind: { type: 'string', enum: [...INDICATOR_KINDS] },
      ...(actions.length > 1 ? { action: { type: 'string', enum: [...actions] } } : {}),
      source: { type: 'string', minLength: 1, maxLength: 128 },
      tag: { type: 'string', minLength: 1, maxLength: 128 },
      expiringBefore: { type: 'string', minLength: 1, maxLength: 64, description: 'ISO-8601 time or epoch seconds: entries expiring before it.' },
    },
  }) as const;

export const idParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 256, description: 'Entry id (URL-encoded; default ids are the canonical indicator).' } },
} as const;

export const sourceQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { source: { type: 'string', minLength: 1, maxLength: 128, description: 'Source of the entry (default "api").' } },
} as const;

export const deleteByIndicatorQuerySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['indicator'],
  properties: {
    indicator: { type: 'string', minLength: 1, maxLength: 300 },
    source: { type: 'string', minLength: 1, maxLength: 128, description: 'Only from this source (default: every source).' },
  },
} as const;

export const pageQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: { type: 'string', minLength: 1, maxLength: 64, description: 'ISO-8601 time or epoch milliseconds: records at or after it.' },
    cursor: { type: 'string', maxLength: 40, description: 'nextCursor of a previous page: records after it.' },
    limit: { ...digits(4), description: '1-1000 (default 100).' },
  },
} as const;
