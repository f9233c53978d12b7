/**
 * Typed errors of the Redis intel layer. Messages say what went wrong and what to do, so an operator reading a
 * sensor log or a CLI error can act without reading code.
 */
import { OffpathError } from '../../util/errors.js';

/** Redis cannot be reached, answered with an error, or did not answer in time. */
export class RedisUnavailableError extends OffpathError {
  constructor(message: string, hint = 'check --redis (host, port, password, TLS) and that the server is up') {
    super('redis_unavailable', message, hint);
    this.name = 'RedisUnavailableError';
  }
}

/** Connection options that cannot work (bad URL, sentinel without a name, unreadable TLS file...). */
export class RedisOptionError extends OffpathError {
  constructor(message: string, hint = 'run with --help for the Redis connection options') {
    super('config', message, hint);
    this.name = 'RedisOptionError';
  }
}

/** The keys under the prefix were written by another schema version, or are not offpath's at all. */
export class RedisSchemaError extends OffpathError {
  constructor(message: string, hint = 'use another --redis-key-prefix, or migrate the data with export/import') {
    super('redis_schema', message, hint);
    this.name = 'RedisSchemaError';
  }
}

/** A record or change event in Redis that cannot be decoded. Counted and skipped by readers, never fatal. */
export class MalformedRecordError extends OffpathError {
  constructor(message: string) {
    super('redis_malformed', message);
    this.name = 'MalformedRecordError';
  }
}
