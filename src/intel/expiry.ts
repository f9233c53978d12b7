/**
 * Expiry grammar. Entries store expiry as absolute unsigned 32-bit epoch seconds (0 = never expires; good until
 * the year 2106). Accepted inputs:
 *
 *   absent, '', 'never'      never expires
 *   2025-03-01T12:00:00Z     ISO-8601 date-time; without an offset it is read as UTC (never as local time, so
 *   2025-03-01               that sensors in different time zones agree); a date alone is midnight UTC
 *   1767225600               a whole number >= 1e9 (2001-09-09) is an absolute epoch time in seconds
 *   3600                     a whole number < 1e9 is a TTL in seconds from now (1e9 s is 31 years: no TTL is that long)
 *   90s 15m 2h 7d 2w         a TTL with a unit (seconds, minutes, hours, days, weeks)
 *
 * A TTL of 0 is refused (it would expire at once: leave expires out for "never"). An absolute time in the past is
 * accepted: the entry is simply never matched and leaves the set at the next expire().
 */
import { IntelEntryError } from './errors.js';

export const NEVER_EXPIRES = 0;
export const MAX_EPOCH_SECONDS = 0xffffffff;
/** Whole numbers at or above this are absolute epoch seconds, below it TTLs. */
export const EPOCH_THRESHOLD = 1_000_000_000;

const HINT = 'use an ISO-8601 time (2025-03-01T12:00:00Z), epoch seconds (1767225600), or a TTL (3600, 90s, 15m, 2h, 7d)';
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const WHOLE = /^[0-9]{1,12}$/;
const TTL = /^([0-9]{1,12})([smhdw])$/i;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Returns absolute epoch seconds (0 = never). `nowSeconds` anchors TTLs. Throws IntelEntryError. */
export function parseExpiry(value: unknown, nowSeconds: number): number {
  if (value === undefined || value === null) return NEVER_EXPIRES;
  if (typeof value === 'number') return fromNumber(value, nowSeconds, String(value));
  if (typeof value !== 'string') throw new IntelEntryError('expires', `expected a string or a number, got ${typeof value}`, HINT);
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'never') return NEVER_EXPIRES;
  if (WHOLE.test(text)) return fromNumber(Number(text), nowSeconds, text);
  const ttl = TTL.exec(text);
  if (ttl) return fromTtl(Number(ttl[1]) * UNIT_SECONDS[ttl[2]!.toLowerCase()]!, nowSeconds, text);
  const iso = ISO.exec(text);
  if (iso) {
    // Date.parse rolls 2026-02-30 over into March: check the calendar fields ourselves first.
    const [year, month, day, hour, minute, second] = [iso[1], iso[2], iso[3], iso[4] ?? '0', iso[5] ?? '0', iso[6] ?? '0'].map(Number) as number[];
    const check = new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second!));
    if (check.getUTCMonth() !== month! - 1 || check.getUTCDate() !== day! || check.getUTCHours() !== hour! || check.getUTCMinutes() !== minute! || check.getUTCSeconds() !== second!) {
      throw new IntelEntryError('expires', `${quote(text)} is not a real date or time`, HINT);
    }
    // A date-time without an offset is UTC by our rule; Date.parse would read it as local time.
    const normalised = text.length > 10 && iso[7] === undefined ? `${text.replace(' ', 'T')}Z` : text.replace(' ', 'T');
    const ms = Date.parse(normalised);
    if (Number.isNaN(ms)) throw new IntelEntryError('expires', `${quote(text)} is not a real date or time`, HINT);
    return checkRange(Math.floor(ms / 1000), text);
  }
  throw new IntelEntryError('expires', `${quote(text)} is not an expiry`, HINT);
}

/** Parses a TTL alone (`3600`, `90s`, `15m`, `2h`, `7d`, `2w`) into seconds. Throws IntelEntryError. */
export function parseTtlSeconds(text: string): number {
  const t = text.trim();
  if (WHOLE.test(t)) return positive(Number(t), t);
  const ttl = TTL.exec(t);
  if (ttl) return positive(Number(ttl[1]) * UNIT_SECONDS[ttl[2]!.toLowerCase()]!, t);
  throw new IntelEntryError('ttl', `${quote(t)} is not a TTL`, 'use seconds (3600) or a number with a unit: 90s, 15m, 2h, 7d, 2w');
}

function fromNumber(n: number, nowSeconds: number, text: string): number {
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < 0) {
    throw new IntelEntryError('expires', `${quote(text)} is not a whole number of seconds`, HINT);
  }
  return n >= EPOCH_THRESHOLD ? checkRange(n, text) : fromTtl(n, nowSeconds, text);
}

function fromTtl(seconds: number, nowSeconds: number, text: string): number {
  return checkRange(Math.floor(nowSeconds) + positive(seconds, text), text);
}

function positive(seconds: number, text: string): number {
  if (seconds <= 0) throw new IntelEntryError('expires', `a TTL of ${quote(text)} would expire at once`, 'leave expires out (or write never) for an entry that never expires');
  return seconds;
}

function checkRange(epochSeconds: number, text: string): number {
  if (epochSeconds <= 0) throw new IntelEntryError('expires', `${quote(text)} is before 1970`, HINT);
  if (epochSeconds > MAX_EPOCH_SECONDS) throw new IntelEntryError('expires', `${quote(text)} is after 2106 (expiry is stored as 32-bit epoch seconds)`, HINT);
  return epochSeconds;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** Current wall-clock time in whole epoch seconds. */
export function wallClockSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
