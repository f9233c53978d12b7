/**
 * Redis connections for the intel store and the sensor's sync client: one server (redis:// or rediss:// URL),
 * Redis Sentinel (a master name and sentinel addresses) or Redis Cluster (seed nodes), with password and TLS
 * options, through ioredis. `redisOptionSpec` / `redisOptionHelp` / `redisOptionsFromValues` give every command
 * (intel, sensor, api) the same flags.
 *
 * Failure behaviour is chosen here for everyone: a command fails after `commandTimeoutMs` rather than waiting for a
 * stalled server; while disconnected ioredis keeps reconnecting (backoff up to 2 s) and queued commands fail after
 * one reconnection attempt, so callers see errors quickly and decide themselves (the sync client keeps enforcing
 * its in-memory set and retries).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { RedisOptionError } from './errors.js';
import { DEFAULT_KEY_PREFIX, DEFAULT_STREAM_MAX_LENGTH, intelKeys } from './schema.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RedisConnectionOptions {
  /** redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://... (TLS). With sentinel or cluster, only its credentials, db and TLS are used. */
  readonly url?: string;
  /** Sentinel addresses; needs `sentinelName`. */
  readonly sentinels?: readonly HostPort[];
  /** Master name monitored by the sentinels. */
  readonly sentinelName?: string;
  readonly sentinelPassword?: string;
  /** Cluster seed nodes. */
  readonly cluster?: readonly HostPort[];
  readonly username?: string;
  /** Overrides a password in the URL. */
  readonly password?: string;
  readonly db?: number;
  /** TLS on (implied by rediss://). */
  readonly tls?: boolean;
  readonly tlsCaFile?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** Name checked against the server certificate (default: the host connected to). */
  readonly tlsServername?: string;
  /** Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Longest wait for any reply (default 5000); a stalled server is treated as unreachable after it. */
  readonly commandTimeoutMs?: number;
  /** Key prefix of the intel schema (default offpath:intel). */
  readonly keyPrefix?: string;
  /** Changes kept in the intel change stream (writers only; default 200,000; trimmed by version). */
  readonly streamMaxLength?: number;
  /** CLIENT SETNAME (shows in CLIENT LIST). */
  readonly connectionName?: string;
}

export type RedisClient = Redis | Cluster;

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
const DEFAULT_PORT = 6379;
const RECONNECT_MAX_MS = 2000;

/** Creates a client (connecting in the background; the first command waits for the connection). */
export function createRedis(options: RedisConnectionOptions, extra: { lazyConnect?: boolean } = {}): RedisClient {
  const resolved = resolveOptions(options);
  const common: RedisOptions = {
    username: resolved.username,
    password: resolved.password,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    // Fail queued commands after one reconnection attempt instead of twenty: callers have their own fallbacks.
    maxRetriesPerRequest: 1,
    // A command sent before a disconnection is not sent again blindly: writers report the error, readers re-read.
    autoResendUnfulfilledCommands: false,
    connectionName: options.connectionName ?? 'offpath',
    lazyConnect: extra.lazyConnect ?? false,
    tls: resolved.tls,
  };
  if (options.cluster && options.cluster.length > 0) {
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...common, db: undefined },
      clusterRetryStrategy: (times) => Math.min(100 * times, RECONNECT_MAX_MS),
      enableOfflineQueue: true,
      lazyConnect: extra.lazyConnect ?? false,
      // With TLS the certificate names the node: connect by the announced name, not a resolved address.
      dnsLookup: resolved.tls ? (address, callback) => callback(null, address) : undefined,
      slotsRefreshTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
    return new Cluster(options.cluster.map((n) => ({ host: n.host, port: n.port })), clusterOptions);
  }
  const retryStrategy = (times: number): number => Math.min(100 * times, RECONNECT_MAX_MS);
  if (options.sentinels && options.sentinels.length > 0) {
    if (!options.sentinelName) throw new RedisOptionError('--redis-sentinel needs --redis-sentinel-name (the master name the sentinels monitor)');
    return new Redis({
      ...common,
      db: resolved.db,
      sentinels: options.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: options.sentinelName,
      sentinelPassword: options.sentinelPassword,
      enableTLSForSentinelMode: resolved.tls !== undefined,
      sentinelTLS: resolved.tls,
      sentinelRetryStrategy: retryStrategy,
      retryStrategy,
    });
  }
  return new Redis({ ...common, host: resolved.host, port: resolved.port, db: resolved.db, retryStrategy });
}

interface Resolved {
  host: string;
  port: number;
  db: number;
  username: string | undefined;
  password: string | undefined;
  tls: ConnectionOptions | undefined;
}

function resolveOptions(options: RedisConnectionOptions): Resolved {
  const hasTopology = (options.sentinels?.length ?? 0) > 0 || (options.cluster?.length ?? 0) > 0;
  if (!options.url && !hasTopology) throw new RedisOptionError('no Redis given', 'use --redis redis://HOST:PORT, --redis-sentinel or --redis-cluster');
  if ((options.sentinels?.length ?? 0) > 0 && (options.cluster?.length ?? 0) > 0) throw new RedisOptionError('--redis-sentinel and --redis-cluster cannot be combined');
  let host = '127.0.0.1';
  let port = DEFAULT_PORT;
  let db = options.db ?? 0;
  let username = options.username;
  let password = options.password;
  let tlsWanted = options.tls === true;
  if (options.url) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new RedisOptionError(`Redis URL ${JSON.stringify(redact(options.url))} is not a URL`, 'write redis://HOST:PORT, redis://:PASSWORD@HOST:PORT/DB or rediss://HOST:PORT for TLS');
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new RedisOptionError(`Redis URL scheme ${JSON.stringify(url.protocol)} is not redis: or rediss:`, 'write redis://HOST:PORT (or rediss:// for TLS)');
    }
    if (url.protocol === 'rediss:') tlsWanted = true;
    if (url.hostname) host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (url.port) port = Number(url.port);
    if (url.username) username ??= decodeURIComponent(url.username);
    if (url.password) password ??= decodeURIComponent(url.password);
    const path = url.pathname.replace(/^\//, '');
    if (path !== '') {
      if (!/^[0-9]{1,2}$/.test(path)) throw new RedisOptionError(`Redis URL database ${JSON.stringify(path)} is not a number`, 'the path of a Redis URL is the database number, e.g. redis://HOST:6379/0');
      if (options.db === undefined) db = Number(path);
    }
  }
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new RedisOptionError(`Redis database ${db} is out of range (0..15)`);
  if ((options.cluster?.length ?? 0) > 0 && db !== 0) throw new RedisOptionError('Redis Cluster has only database 0');
  if (options.keyPrefix !== undefined) intelKeys(options.keyPrefix);
  const anyTlsFile = options.tlsCaFile || options.tlsCertFile || options.tlsKeyFile;
  if (anyTlsFile) tlsWanted = true;
  let tls: ConnectionOptions | undefined;
  if (tlsWanted) {
    if (Boolean(options.tlsCertFile) !== Boolean(options.tlsKeyFile)) throw new RedisOptionError('a TLS client certificate needs both --redis-tls-cert and --redis-tls-key');
    tls = {
      ca: options.tlsCaFile ? readTlsFile(options.tlsCaFile, 'CA') : undefined,
      cert: options.tlsCertFile ? readTlsFile(options.tlsCertFile, 'certificate') : undefined,
      key: options.tlsKeyFile ? readTlsFile(options.tlsKeyFile, 'key') : undefined,
      servername: options.tlsServername,
      rejectUnauthorized: true,
    };
  }
  return { host, port, db, username, password, tls };
}

function readTlsFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new RedisOptionError(`cannot read the TLS ${what} file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check the path and its permissions');
  }
}

/** A URL with its password replaced by '***', for messages and logs. */
export function redact(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/, (_all, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return colon < 0 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, colon)}:***@`;
  });
}

/** Where the options point, without secrets: for logs, status output and errors. */
export function describeRedis(options: RedisConnectionOptions): string {
  if (options.cluster && options.cluster.length > 0) return `cluster ${options.cluster.map(formatHostPort).join(',')}`;
  if (options.sentinels && options.sentinels.length > 0) return `sentinel master ${options.sentinelName ?? '?'} via ${options.sentinels.map(formatHostPort).join(',')}`;
  return options.url ? redact(options.url) : 'redis (no address)';
}

export function formatHostPort(n: HostPort): string {
  return n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`;
}

/** Parses "HOST:PORT,HOST:PORT" ("[v6]:PORT" for IPv6; the port defaults to `defaultPort`). */
export function parseHostList(text: string, flag: string, defaultPort: number): HostPort[] {
  const out: HostPort[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::([0-9]{1,5}))?$/.exec(item);
    const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
    if (!m || port < 1 || port > 65535) throw new RedisOptionError(`--${flag}: ${JSON.stringify(item.slice(0, 80))} is not HOST:PORT`, 'e.g. 10.0.0.5:26379,10.0.0.6:26379 or [2001:db8::5]:26379');
    out.push({ host: m[1] ?? m[2]!, port });
  }
  if (out.length === 0) throw new RedisOptionError(`--${flag} names no address`);
  return out;
}

// ------------------------------------------------------------------------------------------------ CLI flags

export const redisOptionSpec = {
  redis: { type: 'string' },
  'redis-sentinel': { type: 'string' },
  'redis-sentinel-name': { type: 'string' },
  'redis-cluster': { type: 'string' },
  'redis-password-file': { type: 'string' },
  'redis-sentinel-password-file': { type: 'string' },
  'redis-tls': { type: 'boolean' },
  'redis-tls-ca': { type: 'string' },
  'redis-tls-cert': { type: 'string' },
  'redis-tls-key': { type: 'string' },
  'redis-tls-servername': { type: 'string' },
  'redis-connect-timeout': { type: 'string' },
  'redis-key-prefix': { type: 'string' },
} as const;

export const redisOptionHelp = `Redis (fleet intel store):
  --redis URL             redis://[USER:PASSWORD@]HOST[:PORT][/DB], or rediss://... for TLS; the password
                          is better kept out of the command line: --redis-password-file or the environment
                          variable OFFPATH_REDIS_PASSWORD
  --redis-sentinel LIST   Redis Sentinel: HOST:PORT,... of the sentinels, with --redis-sentinel-name NAME
                          (the monitored master); credentials, db and TLS may still come from --redis URL
  --redis-cluster LIST    Redis Cluster: HOST:PORT,... of some nodes (all intel keys share one hash slot)
  --redis-password-file F file holding the Redis password (first line)
  --redis-sentinel-password-file F
                          password of the sentinels themselves (or OFFPATH_REDIS_SENTINEL_PASSWORD)
  --redis-tls             TLS to the servers (implied by rediss:// and by the TLS file options)
  --redis-tls-ca FILE     CA certificate(s) the server certificate must chain to (PEM)
  --redis-tls-cert FILE   client certificate (PEM), with --redis-tls-key FILE
  --redis-tls-servername NAME  name expected in the server certificate (default: the host)
  --redis-connect-timeout SECONDS  connect and reply timeout (default 5)
  --redis-key-prefix NAME keys live under {NAME}: (default ${DEFAULT_KEY_PREFIX}); one Redis can hold several sets`;

export type RedisOptionValues = { [K in keyof typeof redisOptionSpec]?: (typeof redisOptionSpec)[K]['type'] extends 'boolean' ? boolean : string };

/** Connection options from parsed flags; null when no Redis flag was given (the embedded default). */
export function redisOptionsFromValues(values: RedisOptionValues, env: NodeJS.ProcessEnv = process.env): RedisConnectionOptions | null {
  const sentinels = values['redis-sentinel'] !== undefined ? parseHostList(values['redis-sentinel'], 'redis-sentinel', 26379) : undefined;
  const cluster = values['redis-cluster'] !== undefined ? parseHostList(values['redis-cluster'], 'redis-cluster', DEFAULT_PORT) : undefined;
  if (values.redis === undefined && !sentinels && !cluster) {
    for (const flag of Object.keys(redisOptionSpec)) {
      if (flag !== 'redis' && values[flag as keyof RedisOptionValues] !== undefined) throw new RedisOptionError(`--${flag} needs --redis, --redis-sentinel or --redis-cluster`);
    }
    return null;
  }
  if (values['redis-sentinel-name'] !== undefined && !sentinels) throw new RedisOptionError('--redis-sentinel-name needs --redis-sentinel');
  let timeoutMs: number | undefined;
  if (values['redis-connect-timeout'] !== undefined) {
    const s = Number(values['redis-connect-timeout']);
    if (!Number.isFinite(s) || s <= 0 || s > 3600) throw new RedisOptionError(`--redis-connect-timeout must be a number of seconds (0 < s <= 3600), got ${JSON.stringify(values['redis-connect-timeout'])}`);
    timeoutMs = Math.round(s * 1000);
  }
  const password = values['redis-password-file'] !== undefined ? readSecret(values['redis-password-file'], 'redis-password-file') : nonEmpty(env.OFFPATH_REDIS_PASSWORD);
  const sentinelPassword = values['redis-sentinel-password-file'] !== undefined
    ? readSecret(values['redis-sentinel-password-file'], 'redis-sentinel-password-file')
    : nonEmpty(env.OFFPATH_REDIS_SENTINEL_PASSWORD);
  const options: RedisConnectionOptions = {
    url: values.redis,
    sentinels,
    sentinelName: values['redis-sentinel-name'],
    sentinelPassword,
    cluster,
    password,
    tls: values['redis-tls'] === true ? true : undefined,
    tlsCaFile: values['redis-tls-ca'],
    tlsCertFile: values['redis-tls-cert'],
    tlsKeyFile: values['redis-tls-key'],
    tlsServername: values['redis-tls-servername'],
    connectTimeoutMs: timeoutMs,
    commandTimeoutMs: timeoutMs,
    keyPrefix: values['redis-key-prefix'],
  };
  resolveOptions(options); // every mistake reported now, as a usage error, rather than at the first command
  if (sentinels && !options.sentinelName) throw new RedisOptionError('--redis-sentinel needs --redis-sentinel-name (the master name the sentinels monitor)');
  return options;
}

function readSecret(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RedisOptionError(`--${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const line = text.split(/\r?\n/)[0]!;
  if (line === '') throw new RedisOptionError(`--${flag}: ${path} is empty`);
  return line;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export { DEFAULT_KEY_PREFIX, DEFAULT_STREAM_MAX_LENGTH };

/**
 * Follows a client's connection errors (which ioredis reports as events, while commands fail with a generic "max
 * retries" error) and returns a function that turns a command failure into a message an operator can act on.
 */
export function connectionErrorExplainer(client: RedisClient, where: string): (err: unknown) => string {
  let lastConnectionError: string | null = null;
  client.on('error', (err: Error) => {
    // ioredis also reports the flush of queued commands here; keep the cause (ECONNREFUSED, ETIMEDOUT...).
    if (/max retries per request/i.test(err.message)) return;
    lastConnectionError = (err as NodeJS.ErrnoException).code ?? err.message;
  });
  client.on('ready', () => {
    lastConnectionError = null;
  });
  return (err) => {
    const message = err instanceof Error ? err.message : String(err);
    if (/max retries per request|Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(message)) {
      return `cannot connect to ${where}${lastConnectionError ? ` (${lastConnectionError})` : ''}`;
    }
    if (/Command timed out/i.test(message)) return `${where} did not answer in time (stalled or overloaded)`;
    if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(message)) return `${where} refused the credentials (${message})`;
    return `${where}: ${message}`;
  };
}
