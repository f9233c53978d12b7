/** Query-string values (strings on the wire, shape already checked by the schema) to typed values, or a 400. */
import { parseStreamId } from '../fleet/stream-id.js';
import { badRequest, quoteInput } from './errors.js';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

export function pageLimit(text: string | undefined, fallback = 100, max = 1000): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw badRequest('invalid_field', `limit: must be a whole number from 1 to ${max}`, 'limit');
  return n;
}

/**
 * A time as epoch milliseconds: ISO-8601 (UTC when no offset is given), or whole epoch seconds / milliseconds
 * (values from 1e12 up are milliseconds).
 */
export function timeParam(field: string, text: string): number {
  const t = text.trim();
  if (/^[0-9]{1,16}$/.test(t)) {
    const n = Number(t);
    return n >= 1e12 ? n : n * 1000;
  }
  if (ISO_TIME.test(t)) {
    const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(t) && t.length > 10;
    const ms = Date.parse(hasZone || t.length === 10 ? t.replace(' ', 'T') : `${t.replace(' ', 'T')}Z`);
    if (Number.isFinite(ms)) return ms;
  }
  throw badRequest('invalid_field', `${field}: ${quoteInput(t)} is not a time; use ISO-8601 (2030-01-01T00:00:00Z) or epoch seconds`, field);
}

export function streamCursor(text: string): string {
  if (parseStreamId(text) === null) throw badRequest('invalid_cursor', 'cursor: not a cursor from a previous page (expected <ms>-<seq>)', 'cursor');
  return text;
}
