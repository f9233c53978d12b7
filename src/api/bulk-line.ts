/**
 * One line of a bulk import -> the prepared entry it asks for, or the error it gets. The rules are those of
 * POST /v1/blocks: JSON, the body schema (unknown fields refused, no coercion), the entry grammar, the TTL rules,
 * the over-broad policy. Every message is the one the full validation gives.
 *
 * Fast path: imports repeat the same line shape with another indicator (`{"indicator":"X",<the same rest>}`).
 * Once a line has passed the full validation, its text around the indicator value is the key of what it resolved
 * to (source, reason, tags, action, expiry, id, force); a later line with byte-for-byte the same text around a
 * plain indicator value (printable ASCII, no quote or backslash) parses to the same object but for the indicator,
 * so only the indicator is parsed. Anything else (another shape, escapes, a failed line) takes the full path.
 */
import type { IntelAction } from '../intel/action.js';
import { DEFAULT_BREADTH_POLICY, overBroadReason } from '../intel/breadth.js';
import type { PreparedEntry } from '../intel/entry.js';
import { parseIndicator } from '../intel/indicator.js';
import { intelInputError, validateEntry, type EntryBody } from './entry-input.js';
import { ApiError, quoteInput } from './errors.js';
import { toApiError, validationError } from './error-handler.js';

/** A failed line's result (the error body's fields). */
export interface LineFailure {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
  readonly field: string | null;
}

interface Shape {
  readonly source: string;
  readonly reason: string;
  readonly tags: readonly string[];
  readonly profileSlot: number;
  readonly action: IntelAction;
  readonly actionCode: number;
  readonly expiresAt: number;
  /** The id as given (validated), or null: it is explicit unless equal to the canonical indicator. */
  readonly id: string | null;
  readonly force: boolean;
}

/** A compiled JSON-schema validator (Fastify's compileValidationSchema). */
export type BodyValidator = ((value: unknown) => boolean) & { errors?: unknown[] | null };

const MARKER = '"indicator":"';
/** Longest indicator the body schema accepts (maxLength): longer values take the full path for its message. */
const MAX_FAST_INDICATOR = 300;
/** Shapes remembered; beyond it the table starts over (feeds with a reason per line gain nothing from it). */
const MAX_SHAPES = 4096;

export class BulkLineValidator {
  private readonly shapes = new Map<string, Shape>();

  constructor(
    /** The compiled body schema of POST /v1/blocks. */
    private readonly validate: BodyValidator,
    private readonly defaultAction: IntelAction,
    /** Whether "force" may pass an over-broad block (admin scope). */
    private readonly admin: boolean,
    /** TTLs count from here (one instant per import: the same TTL gives the same expiry on every line). */
    private readonly nowSeconds: number,
  ) {}

  /** The line's prepared entry, or its failure. Never throws for bad input. */
  check(text: string): PreparedEntry | LineFailure {
    // The indicator value's bounds when the line has the plain form the fast path understands, else start = -1.
    let start = text.indexOf(MARKER);
    let end = -1;
    if (start >= 0) {
      start += MARKER.length;
      end = plainStringEnd(text, start);
      if (end < 0 || end === start || end - start > MAX_FAST_INDICATOR) start = -1;
    }
    let key = '';
    if (start >= 0) {
      // The text around the value. Lines that open with the indicator (`{"indicator":"`, the usual) are keyed by
      // the rest alone, which starts with the closing quote; others by NUL + prefix + rest (valid JSON holds no raw
      // NUL), so the two forms never meet.
      key = start === MARKER.length + 1 && text.charCodeAt(0) === 123 ? text.slice(end) : `\u0000${text.slice(0, start)}${text.slice(end)}`;
      const shape = this.shapes.get(key);
      if (shape !== undefined) return this.fromShape(shape, text.slice(start, end));
    }
    let body: EntryBody;
    let entry: PreparedEntry;
    try {
      body = this.parse(text);
      entry = this.full(body);
    } catch (err) {
      return failure(err);
    }
    if (start >= 0 && body.indicator === text.slice(start, end) && text.indexOf('"indicator"') === start - MARKER.length && text.indexOf('"indicator"', end) < 0) {
      // The value found is the object's only indicator: the rest of the text decides everything else.
      if (this.shapes.size >= MAX_SHAPES) this.shapes.clear();
      // A copy: the key may be a slice of a whole decoded chunk, which the table must not keep alive.
      this.shapes.set(Buffer.from(key, 'utf8').toString('utf8'), {
        source: entry.source,
        reason: entry.reason,
        tags: entry.tags,
        profileSlot: entry.profileSlot,
        action: entry.action,
        actionCode: entry.actionCode,
        expiresAt: entry.expiresAt,
        id: body.id === undefined ? null : entry.explicitId ?? entry.indicator.text,
        force: body.force === true,
      });
    }
    return entry;
  }

  private parse(text: string): EntryBody {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'invalid_json', `the line is not valid JSON: ${quoteInput(text, 40)}`);
    }
    if (!this.validate(value)) throw validationError((this.validate.errors ?? []) as never, 'body');
    return value as EntryBody;
  }

  /** The full validation of POST /v1/blocks. Throws ApiError. */
  private full(body: EntryBody): PreparedEntry {
    const checked = validateEntry(body, body.action ?? this.defaultAction, this.nowSeconds);
    if (checked.overBroad !== null && !(body.force === true && this.admin)) throw overBroad(checked.overBroad);
    return checked.prepared;
  }

  /** What the full validation gives for a line of this shape: only the indicator is left to check. */
  private fromShape(shape: Shape, raw: string): PreparedEntry | LineFailure {
    let indicator;
    try {
      indicator = parseIndicator(raw, { hostBits: 'reject' });
    } catch (err) {
      return failure(intelInputError(err));
    }
    const why = overBroadReason(indicator, shape.action, DEFAULT_BREADTH_POLICY);
    if (why !== null && !(shape.force && this.admin)) return failure(overBroad(why));
    return {
      indicator,
      explicitId: shape.id === null || shape.id === indicator.text ? null : shape.id,
      action: shape.action,
      actionCode: shape.actionCode,
      expiresAt: shape.expiresAt,
      source: shape.source,
      reason: shape.reason,
      tags: shape.tags,
      profileSlot: shape.profileSlot,
    };
  }
}

/** A line's failure: the error body fields of what POST /v1/blocks would answer. */
export function failure(err: unknown): LineFailure {
  const { error } = toApiError(err);
  return { ok: false, code: error.code, message: error.message, field: error.field };
}

export function isFailure(x: PreparedEntry | LineFailure): x is LineFailure {
  return (x as LineFailure).ok === false;
}

function overBroad(why: string): ApiError {
  return new ApiError(400, 'over_broad', `indicator: ${why}; needs "force": true and an admin token`, 'indicator');
}

/**
 * End (index of the closing quote) of a JSON string value starting at `from` that holds printable ASCII only (no
 * escape, so its JSON value is its text); -1 otherwise.
 */
function plainStringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) return i;
    if (c < 0x20 || c > 0x7e || c === 92) return -1;
  }
  return -1;
}
