/**
 * Typed errors of the intel layer. Every message names what was wrong and what is accepted, so that a
 * SOC analyst reading a load report can fix the feed without reading code.
 */
import { OffpathError } from '../util/errors.js';

/** The accepted indicator forms, quoted in every indicator error's hint. */
export const INDICATOR_FORMS =
  'accepted: IPv4 198.18.0.5, IPv6 2001:db8::1, CIDR 198.18.0.0/15 or 2001:db8::/32, ' +
  'IP:port 198.18.0.5:443 or [2001:db8::1]:53 with optional /tcp or /udp, domain example.com';

/** Longest input echoed back in a message: a 1 MB garbage line must not become a 1 MB error. */
const ECHO_LIMIT = 80;

export function echo(text: string): string {
  const cut = text.length > ECHO_LIMIT ? `${text.slice(0, ECHO_LIMIT)}…` : text;
  // JSON.stringify escapes control characters and quotes, so the echo is always one readable line.
  return JSON.stringify(cut);
}

/** An indicator string that is not one of the accepted forms. */
export class IndicatorError extends OffpathError {
  readonly input: string;
  readonly reason: string;
  constructor(input: string, reason: string, hint: string = INDICATOR_FORMS) {
    super('intel_indicator', `invalid indicator ${echo(input)}: ${reason}`, hint);
    this.name = 'IndicatorError';
    this.input = input.length > 200 ? input.slice(0, 200) : input;
    this.reason = reason;
  }
}

/** A bad field of an intel entry other than the indicator (action, expiry, id, source, reason, tags). */
export class IntelEntryError extends OffpathError {
  readonly field: string;
  constructor(field: string, message: string, hint?: string) {
    super('intel_entry', `${field}: ${message}`, hint);
    this.name = 'IntelEntryError';
    this.field = field;
  }
}

/** An intel file that cannot be loaded at all (cannot be opened, unusable CSV header). Bad lines are not this. */
export class IntelFileError extends OffpathError {
  readonly file: string;
  readonly line: number;
  /** The message without the file and line (what the constructor was given). */
  readonly detail: string;
  constructor(file: string, line: number, message: string, hint?: string) {
    super('intel_file', line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`, hint);
    this.name = 'IntelFileError';
    this.file = file;
    this.line = line;
    this.detail = message;
  }

  /** A file that cannot be opened or read (`code`: the system error code, e.g. ENOENT). */
  static unreadable(file: string, code: string): IntelFileError {
    return new IntelFileError(file, 0, `cannot read: ${code}`, code === 'ENOENT' ? 'check the path' : undefined);
  }
}

/** A capacity limit of the in-memory intel set was reached (for example more than 2^27 entries of one kind). */
export class IntelCapacityError extends OffpathError {
  constructor(message: string, hint?: string) {
    super('intel_capacity', message, hint);
    this.name = 'IntelCapacityError';
  }
}
