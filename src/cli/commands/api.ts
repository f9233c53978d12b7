import { readFileSync } from 'node:fs';
import { destination, pino, type Logger } from 'pino';
import { parseListen } from '../../api/listen.js';
import type { ApiServerOptions } from '../../api/server.js';
import { redisOptionHelp, redisOptionSpec, redisOptionsFromValues } from '../../intel/redis/connection.js';
import { ConfigError, ExitCode, OffpathError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, positiveInteger } from '../args.js';

export const apiHelp = `Usage: offpath api --redis URL --listen HOST:PORT [options]

Serves the blocking API for SOC platforms: JSON over HTTP(S), versioned under /v1, described by OpenAPI at
/docs (/docs/json for the document). Writes go to the fleet's intel store in Redis; checks are answered from
this process's own copy of the intel, kept in step with Redis exactly as a sensor's is.
Single-box mode (no Redis) is "offpath sensor --api HOST:PORT".

Options:
  --listen HOST:PORT      address to listen on (default 127.0.0.1:8443); [::1]:8443 for IPv6
  --tls-cert FILE         serve HTTPS with this PEM certificate chain (needs --tls-key)
  --tls-key FILE          PEM private key of --tls-cert
  --tokens FILE           take API tokens from this file of hashes (offpath token create --tokens FILE)
                          instead of Redis
  --body-limit BYTES      largest JSON request body (default 1048576); bulk imports are streamed and
                          limited by --bulk-max-lines instead
  --rate-limit N[/s]      requests per second per token, for tokens without their own limit (default 100);
                          bursts of twice that are allowed; beyond it: 429 with Retry-After
  --bulk-max-lines N      most lines in one bulk import (default 2000000)
  --max-event-streams N   most open live event streams (SSE) at once (default 64)
  --public-docs           serve /docs without a token (the document holds no data)
  --trust-proxy LIST      take the client address from X-Forwarded-For when the connection comes from these
                          proxies (comma-separated addresses or CIDRs): the address the audit trail records
  --log-requests          log every request (default: changes, refusals of scope and errors only)
  --log-level LEVEL       fatal, error, warn, info (default), debug
  -h, --help              this help

${redisOptionHelp}

Authentication: every route except /healthz and /readyz needs "Authorization: Bearer <token>". Create the
first token with: offpath token create --redis URL --name NAME --scope admin (printed once).

Logs are JSON lines on stderr (pino). SIGTERM or SIGINT stops accepting requests, finishes those in flight and
exits 0. Exit codes: 2 bad usage or configuration; 4 Redis unreachable at start (tokens cannot be read) or the
address cannot be listened on.`;

export async function apiCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    listen: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    tokens: { type: 'string' },
    'body-limit': { type: 'string' },
    'rate-limit': { type: 'string' },
    'bulk-max-lines': { type: 'string' },
    'max-event-streams': { type: 'string' },
    'public-docs': { type: 'boolean' },
    'trust-proxy': { type: 'string' },
    'log-requests': { type: 'boolean' },
    'log-level': { type: 'string' },
    ...redisOptionSpec,
  } as const);
  if (values.help) {
    process.stdout.write(apiHelp + '\n');
    return ExitCode.ok;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const connection = redisOptionsFromValues(values);
  if (connection === null) throw new UsageError('offpath api needs --redis URL (or --redis-sentinel / --redis-cluster); single-box mode is "offpath sensor --api HOST:PORT"');
  const { host, port } = parseListen(values.listen ?? '127.0.0.1:8443');
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const level = values['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(level)) throw new UsageError(`--log-level must be fatal, error, warn, info or debug, got ${JSON.stringify(level)}`);
  const log: Logger = pino({ level, base: { service: 'offpath-api' } }, destination({ fd: 2, sync: false }));
  const options: ApiServerOptions = {
    bodyLimit: positiveInteger('body-limit', values['body-limit'], 1 << 20),
    rateLimit: rateOption(values['rate-limit']),
    bulkMaxLines: positiveInteger('bulk-max-lines', values['bulk-max-lines'], 2_000_000),
    maxEventStreams: positiveInteger('max-event-streams', values['max-event-streams'], 64),
    publicDocs: values['public-docs'] === true,
    logRequests: values['log-requests'] === true,
    trustProxy: values['trust-proxy'] === undefined ? false : values['trust-proxy'].split(',').map((s) => s.trim()).filter(Boolean),
    tls: values['tls-cert'] ? { cert: readPem(values['tls-cert'], 'tls-cert'), key: readPem(values['tls-key']!, 'tls-key') } : undefined,
    logger: log,
  };
  // Loaded here, not at the top: every offpath command imports this module for its help text.
  const { buildApiServer } = await import('../../api/server.js');
  const { createRedisApiDeps } = await import('../../api/redis-mode.js');
  const { FileTokenStore } = await import('../../api/auth/file-token-store.js');
  const fileTokens = values.tokens !== undefined ? new FileTokenStore(values.tokens, { onMalformed: (line) => log.warn({ file: values.tokens, line }, 'malformed token line ignored') }) : null;

  let redis;
  try {
    redis = await createRedisApiDeps({ connection, log });
  } catch (err) {
    await fileTokens?.close();
    if (err instanceof OffpathError) throw err;
    throw new OffpathError('redis_unavailable', `cannot start the API: ${(err as Error).message}`, 'check --redis and that the server is up');
  }
  const deps = fileTokens ? { ...redis.deps, tokens: fileTokens } : redis.deps;
  const server = await buildApiServer(deps, options);
  let url: string;
  try {
    url = await server.listen({ host, port });
  } catch (err) {
    await server.close();
    await redis.close();
    await fileTokens?.close();
    throw new OffpathError('listen', `cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const status = redis.sync.status();
  log.info({ url, tls: options.tls !== undefined, intel: { state: status.state, entries: status.entries, version: status.versionApplied } }, 'offpath api listening');

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stopping');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await server.close();
  await redis.close();
  await fileTokens?.close();
  log.info({}, 'stopped');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return ExitCode.ok;
}

function rateOption(text: string | undefined): number {
  if (text === undefined) return 100;
  const m = /^([0-9_]+)(?:\/s)?$/.exec(text.trim());
  const n = m ? Number(m[1]!.replace(/_/g, '')) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new UsageError(`--rate-limit must be requests per second (e.g. 100 or 100/s, at most 1000000), got ${JSON.stringify(text)}`);
  return n;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`--${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

