/**
 * Turns every failure into the one error body (errors.ts) with the right 4xx, and keeps 5xx for real server
 * faults: validation errors name the field, body-parse and size errors say what the client must change, unknown
 * routes say whether the path exists with another method (405), and nothing echoes more than a few dozen
 * characters of the input.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OffpathError } from '../util/errors.js';
import { ApiError, quoteInput } from './errors.js';
import { intelInputError } from './entry-input.js';
import { TokenInputError, TokenNameTakenError } from './auth/token-store.js';

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Fields whose errors get their own code (clients switch on these). */
const FIELD_CODES: Readonly<Record<string, string>> = {
  indicator: 'invalid_indicator',
  ttl: 'invalid_ttl',
  expires: 'invalid_expires',
  action: 'invalid_action',
  cursor: 'invalid_cursor',
  tags: 'invalid_tags',
};

const CONTEXT_NAMES: Readonly<Record<string, string>> = { body: 'request body', querystring: 'query string', params: 'path', headers: 'headers' };

/** `/tags/3` -> `tags[3]`, `/a/b` -> `a.b`. */
function fieldName(instancePath: string, child?: string): string | null {
  const parts = instancePath.split('/').filter((p) => p !== '').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  if (parts.length === 0) return null;
  let out = '';
  for (const p of parts) out += /^[0-9]+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out.length > 80 ? `${out.slice(0, 80)}…` : out;
}

export function validationError(errors: readonly AjvError[], context: string): ApiError {
  const e = errors[0];
  const where = CONTEXT_NAMES[context] ?? context;
  if (!e) return new ApiError(400, 'invalid_request', `${where} is invalid`);
  if (e.keyword === 'additionalProperties') {
    const name = String(e.params.additionalProperty ?? '');
    const field = fieldName(e.instancePath, name);
    return new ApiError(400, 'unknown_field', `${field === null ? quoteInput(name) : quoteInput(field)} is not a known field of the ${where}`, field);
  }
  if (e.keyword === 'required') {
    const field = fieldName(e.instancePath, String(e.params.missingProperty ?? ''));
    return new ApiError(400, 'missing_field', `${field} is required in the ${where}`, field);
  }
  const field = fieldName(e.instancePath);
  if (field === null) {
    return new ApiError(400, 'invalid_request', `the ${where} ${e.message ?? 'is invalid'}${e.keyword === 'type' ? ' (send a JSON object)' : ''}`);
  }
  const top = field.split(/[.[]/)[0]!;
  let detail = e.message ?? 'is invalid';
  if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) detail = `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  return new ApiError(400, FIELD_CODES[top] ?? 'invalid_field', `${field}: ${detail}`, field);
}

/** Status and code for Fastify's own errors (body parsing, sizes, URLs). */
function frameworkError(err: FastifyError): ApiError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the request body is empty; send a JSON object');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'payload_too_large', 'the request body is larger than the server accepts (--body-limit); for many entries use POST /v1/blocks/bulk');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'send Content-Type: application/json (application/x-ndjson for bulk imports)');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'invalid_request', 'the body length does not match Content-Length');
    case 'FST_ERR_BAD_URL':
      return new ApiError(400, 'invalid_url', 'the URL is not valid (bad percent-encoding?)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(414, 'invalid_url', 'a path segment is too long');
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new ApiError(400, 'invalid_request', 'the request cannot be routed');
    case 'FST_ERR_CTP_INVALID_TYPE':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return new ApiError(415, 'unsupported_media_type', 'the Content-Type header is not valid');
    default:
      break;
  }
  if (err.name === 'SyntaxError' || err.code === 'FST_ERR_CTP_INVALID_PARSE_TYPE') return new ApiError(400, 'invalid_json', 'the request body is not valid JSON');
  // secure-json-parse refuses __proto__ / constructor.prototype keys
  if (/prototype|__proto__/i.test(err.message ?? '')) return new ApiError(400, 'invalid_json', 'the request body contains a forbidden key (__proto__ or constructor.prototype)');
  return null;
}

/** Errors of a dead or unreachable backend (Redis): 503, the client may retry. */
function isUnavailable(err: Error): boolean {
  const name = err.name ?? '';
  const message = err.message ?? '';
  return name === 'MaxRetriesPerRequestError' || /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Stream isn't writeable|enableOfflineQueue|CLUSTERDOWN|LOADING|MASTERDOWN|READONLY|Reached the max retries|NOSCRIPT/.test(message);
}

export function toApiError(raw: unknown): { error: ApiError; internal: boolean } {
  if (raw instanceof ApiError) return { error: raw, internal: false };
  const mapped = intelInputError(raw);
  if (mapped instanceof ApiError) return { error: mapped, internal: false };
  if (raw instanceof TokenNameTakenError) return { error: new ApiError(409, 'conflict', raw.message, 'name'), internal: false };
  if (raw instanceof TokenInputError) return { error: new ApiError(400, `invalid_${raw.field}`, raw.message, raw.field), internal: false };
  if (raw instanceof OffpathError && raw.code === 'redis_unavailable') {
    return { error: new ApiError(503, 'unavailable', 'the intel store (Redis) is unreachable; retry shortly', null, { 'retry-after': '1' }), internal: true };
  }
  const err = (raw instanceof Error ? raw : new Error(String(raw))) as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(err.validation)) return { error: validationError(err.validation, err.validationContext ?? 'body'), internal: false };
  const framework = frameworkError(err);
  if (framework) return { error: framework, internal: false };
  if (isUnavailable(err)) return { error: new ApiError(503, 'unavailable', 'the intel store (Redis) is unreachable; retry shortly', null, { 'retry-after': '1' }), internal: true };
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { error: new ApiError(err.statusCode, 'invalid_request', 'the request is invalid'), internal: false };
  }
  return { error: new ApiError(500, 'internal', 'internal error; the server log has the details'), internal: true };
}

export function sendApiError(reply: FastifyReply, error: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(error.body());
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { error, internal } = toApiError(raw);
    if (internal) request.log.error({ err: raw }, 'request failed');
    if (reply.sent || reply.raw.headersSent) {
      // A streamed response already started (bulk, SSE): end it, the status line cannot change any more.
      reply.raw.end();
      return;
    }
    return sendApiError(reply, error);
  });
}

/** Framework errors raised before routing (bad URL encoding, over-long parameters). */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const { error } = toApiError(err);
  void sendApiError(reply, error);
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** 404 for unknown paths, 405 (with Allow) for known paths asked with another method. */
export function installNotFound(app: FastifyInstance, authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>): void {
  app.setNotFoundHandler({ preHandler: authenticate }, async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = METHODS.filter((m) => m !== request.method && app.findRoute({ method: m, url: path }) !== null);
    if (allowed.length > 0) {
      return sendApiError(reply, new ApiError(405, 'method_not_allowed', `${request.method} is not allowed here; use ${allowed.join(', ')}`, null, { allow: allowed.join(', ') }));
    }
    return sendApiError(reply, new ApiError(404, 'not_found', `no route ${request.method} ${quoteInput(path, 80)}; see /docs for the API`));
  });
}
