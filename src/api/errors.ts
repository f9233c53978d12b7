/**
 * API errors: one body shape for every error the API returns,
 *
 *   { "error": { "code": "invalid_indicator", "message": "...", "field": "indicator" } }
 *
 * `code` is stable (clients switch on it), `message` says what was wrong and what to do, `field` names the
 * request field at fault (null when no single field is). Messages never echo more than a few dozen characters of
 * the input.
 */
import { OffpathError } from '../util/errors.js';

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly field: string | null };
}

export class ApiError extends OffpathError {
  readonly statusCode: number;
  readonly field: string | null;
  /** Extra response headers (Retry-After, Allow). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(statusCode: number, code: string, message: string, field: string | null = null, headers: Record<string, string> = {}) {
    super(code, message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.field = field;
    this.headers = headers;
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, field: this.field } };
  }
}

export const badRequest = (code: string, message: string, field: string | null = null): ApiError => new ApiError(400, code, message, field);
export const notFound = (message: string): ApiError => new ApiError(404, 'not_found', message);
export const conflict = (message: string, field: string | null = null): ApiError => new ApiError(409, 'conflict', message, field);

/** Quotes a piece of client input for a message: JSON-escaped and cut, so a 1 MB value is never echoed. */
export function quoteInput(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** JSON schema of the error body (for the OpenAPI document and fast serialisation). */
export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  description: 'The one error shape of the API.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'field'],
      properties: {
        code: { type: 'string', description: 'Stable machine-readable code, e.g. invalid_indicator, unauthorized, rate_limited.' },
        message: { type: 'string', description: 'What was wrong and what to do.' },
        field: { type: ['string', 'null'], description: 'The request field at fault, if one is.' },
      },
    },
  },
} as const;
