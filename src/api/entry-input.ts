/**
 * Turns a request body for a block or allowlist entry into a validated intel entry input, with errors that name
 * the field. JSON-schema validation (schemas.ts) has already checked types and unknown fields; this adds the
 * intel grammar (indicator, expiry, tags...) through the same prepareEntry the file loader and the sensors use,
 * and the over-broad policy.
 */
import type { IntelAction } from '../intel/action.js';
import { DEFAULT_BREADTH_POLICY, overBroadReason } from '../intel/breadth.js';
import { prepareEntry, type IntelEntryInput, type PreparedEntry } from '../intel/entry.js';
import { IndicatorError, IntelEntryError } from '../intel/errors.js';
import { EPOCH_THRESHOLD, parseExpiry, parseTtlSeconds } from '../intel/expiry.js';
import { badRequest, quoteInput } from './errors.js';

/** Body of POST /v1/blocks and POST /v1/allowlist (and one line of a bulk import). */
export interface EntryBody {
  readonly indicator: string;
  readonly action?: IntelAction;
  readonly ttl?: number | string;
  readonly expires?: number | string;
  readonly reason?: string;
  readonly source?: string;
  readonly tags?: readonly string[];
  readonly id?: string;
  readonly force?: boolean;
}

export const DEFAULT_API_SOURCE = 'api';
/** Longest TTL accepted: ten years. */
export const MAX_TTL_SECONDS = 10 * 365 * 86400;

export interface ValidatedEntry {
  readonly input: IntelEntryInput;
  readonly prepared: PreparedEntry;
  /** Set when the entry is over-broad; the route allows it only with force and admin scope. */
  readonly overBroad: string | null;
}

/**
 * Text that cannot be stored as UTF-8 (an unpaired surrogate, which JSON's \ud800 escapes can carry) would come
 * back from Redis as U+FFFD, no longer the text that was written: refused here, naming the field.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** String.prototype.isWellFormed (ES2024) for the ES2022 library this project compiles against. */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

function checkWellFormed(body: EntryBody): void {
  for (const field of ['reason', 'source', 'id'] as const) {
    const v = body[field];
    if (typeof v === 'string' && !isWellFormed(v)) throw badRequest(`invalid_${field}`, `${field}: contains invalid Unicode (an unpaired surrogate)`, field);
  }
  body.tags?.forEach((tag, i) => {
    if (typeof tag === 'string' && !isWellFormed(tag)) throw badRequest('invalid_tags', `tags[${i}]: contains invalid Unicode (an unpaired surrogate)`, `tags[${i}]`);
  });
}

/** Validates one entry body; throws ApiError (400) naming the field. */
export function validateEntry(body: EntryBody, action: IntelAction, nowSeconds: number): ValidatedEntry {
  checkWellFormed(body);
  let expires: number | null = null;
  if (body.ttl !== undefined && body.expires !== undefined) throw badRequest('invalid_ttl', 'ttl: give ttl or expires, not both', 'ttl');
  if (body.ttl !== undefined) expires = nowSeconds + ttlSeconds(body.ttl);
  if (body.expires !== undefined) expires = absoluteExpiry(body.expires, nowSeconds);
  const input: IntelEntryInput = {
    indicator: body.indicator,
    id: body.id,
    action,
    expires,
    source: body.source ?? DEFAULT_API_SOURCE,
    reason: body.reason,
    tags: body.tags,
  };
  let prepared: PreparedEntry;
  try {
    prepared = prepareEntry(input, { nowSeconds, hostBits: 'reject' });
  } catch (err) {
    throw intelInputError(err);
  }
  // Store the canonical forms: what Redis and every sensor hold is exactly what this check accepted.
  const canonical: IntelEntryInput = { ...input, indicator: prepared.indicator.text, source: prepared.source, tags: prepared.tags };
  return { input: canonical, prepared, overBroad: overBroadReason(prepared.indicator, action, DEFAULT_BREADTH_POLICY) };
}

/** IndicatorError / IntelEntryError -> 400 naming the field; anything else is rethrown. */
export function intelInputError(err: unknown): unknown {
  if (err instanceof IndicatorError) return badRequest('invalid_indicator', `indicator: ${err.message}`, 'indicator');
  if (err instanceof IntelEntryError) {
    const field = err.field === 'entry' ? null : err.field;
    return badRequest(field ? `invalid_${field}` : 'invalid_request', err.message, field);
  }
  return err;
}

function ttlSeconds(ttl: number | string): number {
  if (typeof ttl === 'number') {
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
      throw badRequest('invalid_ttl', `ttl: ${quoteInput(ttl)} is not a whole number of seconds from 1 to ${MAX_TTL_SECONDS} (ten years)`, 'ttl');
    }
    return ttl;
  }
  let seconds: number;
  try {
    seconds = parseTtlSeconds(ttl);
  } catch {
    throw badRequest('invalid_ttl', `ttl: ${quoteInput(ttl)} is not a TTL; use seconds (3600) or a number with a unit: 90s, 15m, 2h, 7d, 2w`, 'ttl');
  }
  if (seconds > MAX_TTL_SECONDS) throw badRequest('invalid_ttl', `ttl: ${quoteInput(ttl)} is longer than ten years`, 'ttl');
  return seconds;
}

function absoluteExpiry(value: number | string, nowSeconds: number): number {
  const hint = 'use an ISO-8601 time (2030-01-01T00:00:00Z) or epoch seconds; for a duration use ttl';
  if (typeof value === 'number' && (!Number.isInteger(value) || value < EPOCH_THRESHOLD)) {
    throw badRequest('invalid_expires', `expires: ${quoteInput(value)} is not an absolute time (${hint})`, 'expires');
  }
  if (typeof value === 'string' && /^\s*[0-9]+[smhdw]?\s*$/i.test(value) && !(Number(value) >= EPOCH_THRESHOLD)) {
    throw badRequest('invalid_expires', `expires: ${quoteInput(value)} is not an absolute time (${hint})`, 'expires');
  }
  let at: number;
  try {
    at = parseExpiry(value, nowSeconds);
  } catch (err) {
    if (err instanceof IntelEntryError) throw badRequest('invalid_expires', `expires: ${quoteInput(value)} is not a time (${hint})`, 'expires');
    throw err;
  }
  if (at === 0) throw badRequest('invalid_expires', `expires: ${quoteInput(value)} is not a time (${hint}); leave expires out for never`, 'expires');
  if (at <= nowSeconds) throw badRequest('invalid_expires', `expires: ${quoteInput(value)} is in the past`, 'expires');
  return at;
}

