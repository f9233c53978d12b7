/**
 * Typed errors. Each carries a stable `code` (for JSON output and exit codes) and a message that says what
 * went wrong and what to do about it.
 */
export class OffpathError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string) {
    super(hint ? `${message} (${hint})` : message);
    this.name = 'OffpathError';
    this.code = code;
    this.hint = hint;
  }
}

/** A capture file that cannot be read (any further). Names the file and the byte offset of the fault. */
export class CaptureFileError extends OffpathError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, what: string, hint?: string) {
    super('capture_file', `${file}: ${what} at byte offset ${offset}`, hint);
    this.name = 'CaptureFileError';
    this.file = file;
    this.offset = offset;
  }
}

/** The reader of our output went away (for example `| head`): stop quietly, as Unix tools do. */
export class OutputClosedError extends OffpathError {
  constructor(path: string) {
    super('output_closed', `${path}: the reader closed the output`);
    this.name = 'OutputClosedError';
  }
}

/** Bad command-line usage: exit code 2, like most Unix tools. */
export class UsageError extends OffpathError {
  constructor(message: string, hint = 'run with --help for usage') {
    super('usage', message, hint);
    this.name = 'UsageError';
  }
}

/** Bad configuration value (file or option). */
export class ConfigError extends OffpathError {
  constructor(message: string, hint?: string) {
    super('config', message, hint);
    this.name = 'ConfigError';
  }
}

/** Process exit codes used by every command. */
export const ExitCode = {
  ok: 0,
  /** The command ran but met bad input it could only partly process (for example a truncated capture). */
  partial: 1,
  usage: 2,
  /** Input could not be opened or read at all. */
  input: 3,
  /** An environment problem: permissions, missing interface, unreachable service. */
  environment: 4,
  internal: 70,
} as const;
