import { userInfo } from 'node:os';
import { RedisAuditLog } from '../../api/audit/redis-audit-log.js';
import { FileTokenStore } from '../../api/auth/file-token-store.js';
import { RedisTokenStore } from '../../api/auth/redis-token-store.js';
import { isScope } from '../../api/auth/scopes.js';
import { tokenInfo, TokenInputError, TokenNameTakenError, type TokenRecord, type TokenStore } from '../../api/auth/token-store.js';
import { apiPrefixFor } from '../../api/keys.js';
import { createRedis, redisOptionHelp, redisOptionSpec, redisOptionsFromValues, type RedisClient } from '../../intel/redis/connection.js';
import { ExitCode, OffpathError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, positiveInteger } from '../args.js';

export const tokenHelp = `Usage: offpath token create --name NAME --scope SCOPE [--rate-limit N] (--redis URL | --tokens FILE)
       offpath token list [--json] (--redis URL | --tokens FILE)
       offpath token revoke ID|NAME (--redis URL | --tokens FILE)

Manages the bearer tokens of the blocking API. A token (opk_<id>_<secret>) is printed once, by create, on
stdout; only its SHA-256 is stored. Scopes, each including the ones before it:
  read    check, list and get entries, sensors, events, the enforcement state
  write   + create, update and delete blocks and allowlist entries, bulk imports
  admin   + the enforcement switch, tokens, the audit trail, over-broad blocks (force)

Options:
  --name NAME             who uses the token (shown as the actor in the audit trail); unique among active
                          tokens; letters, digits and . _ @ : -
  --scope SCOPE           read, write or admin
  --rate-limit N          requests per second for this token (default: the API's --rate-limit)
  --tokens FILE           a tokens file (single-box mode, or offpath api --tokens); created if missing
  --json                  list: one JSON object per token
  -h, --help              this help

${redisOptionHelp}

In Redis mode, create and revoke are also written to the API's audit trail (actor cli:USER).
A revoked token is refused by running API servers within about a second (Redis) or two (file).
Exit codes: 0 done; 1 nothing to revoke; 2 bad usage or a name already taken; 4 Redis unreachable.`;

export async function tokenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    name: { type: 'string' },
    scope: { type: 'string' },
    'rate-limit': { type: 'string' },
    tokens: { type: 'string' },
    json: { type: 'boolean' },
    ...redisOptionSpec,
  } as const);
  if (values.help) {
    process.stdout.write(tokenHelp + '\n');
    return ExitCode.ok;
  }
  const [action, ...rest] = positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new UsageError('offpath token needs create, list or revoke');
  const connection = redisOptionsFromValues(values);
  if ((connection === null) === (values.tokens === undefined)) throw new UsageError('give exactly one of --redis URL or --tokens FILE');
  const actor = `cli:${safeUser()}`;

  let client: RedisClient | null = null;
  let store: TokenStore;
  if (connection !== null) {
    client = createRedis({ connectionName: 'offpath-token', ...connection });
    client.on('error', () => undefined);
    const redisStore = new RedisTokenStore({ redis: client, keyPrefix: apiPrefixFor(connection.keyPrefix), follow: false });
    store = redisStore;
  } else {
    store = new FileTokenStore(values.tokens!, { create: action === 'create', watch: false });
  }
  const audit = client && connection ? new RedisAuditLog(client, { keyPrefix: apiPrefixFor(connection.keyPrefix) }) : null;
  const auditChange = async (what: string, record: TokenRecord): Promise<void> => {
    await audit?.append({
      actor,
      tokenId: null,
      address: 'local',
      method: 'CLI',
      route: `offpath token ${action}`,
      action: what,
      target: { tokenId: record.id, name: record.name, scope: record.scope },
      outcome: 'ok',
      status: 0,
    });
  };
  try {
    if (action === 'create') {
      if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      if (values.name === undefined) throw new UsageError('token create needs --name NAME');
      if (!isScope(values.scope)) throw new UsageError('token create needs --scope read, write or admin');
      const rateLimit = values['rate-limit'] === undefined ? null : positiveInteger('rate-limit', values['rate-limit'], 1);
      let created;
      try {
        created = await store.create({ name: values.name, scope: values.scope, rateLimit, createdBy: actor });
      } catch (err) {
        if (err instanceof TokenNameTakenError || err instanceof TokenInputError) throw new UsageError(err.message, 'choose another --name, or revoke the old token first');
        throw wrapRedis(err);
      }
      await auditChange('token.create', created.record).catch((err: unknown) => process.stderr.write(`offpath: warning: not audited: ${(err as Error).message}\n`));
      if (values.json) process.stdout.write(JSON.stringify({ token: created.token, info: tokenInfo(created.record) }) + '\n');
      else {
        process.stdout.write(created.token + '\n');
        process.stderr.write(`created token ${created.record.id} "${created.record.name}" (scope ${created.record.scope}); it is shown only once\n`);
      }
      return ExitCode.ok;
    }
    if (action === 'list') {
      if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const records = await store.list().catch((err: unknown) => {
        throw wrapRedis(err);
      });
      for (const r of records) {
        if (values.json) process.stdout.write(JSON.stringify(tokenInfo(r)) + '\n');
        else process.stdout.write(`${r.id}  ${r.name.padEnd(24)} ${r.scope.padEnd(5)}  ${r.revokedAt ? `revoked ${r.revokedAt}` : `created ${r.createdAt}`}${r.rateLimit ? `  ${r.rateLimit}/s` : ''}\n`);
      }
      return ExitCode.ok;
    }
    if (rest.length !== 1) throw new UsageError('token revoke needs one ID or NAME');
    const revoked = await store.revoke(rest[0]!, actor).catch((err: unknown) => {
      throw wrapRedis(err);
    });
    if (revoked === null) {
      process.stderr.write(`offpath: no active token with id or name ${JSON.stringify(rest[0])}\n`);
      return ExitCode.partial;
    }
    await auditChange('token.revoke', revoked).catch((err: unknown) => process.stderr.write(`offpath: warning: not audited: ${(err as Error).message}\n`));
    process.stderr.write(`revoked token ${revoked.id} "${revoked.name}"\n`);
    return ExitCode.ok;
  } finally {
    await store.close();
    if (client) {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    }
  }
}

function wrapRedis(err: unknown): unknown {
  if (err instanceof OffpathError) return err;
  return new OffpathError('redis_unavailable', `cannot reach Redis: ${(err as Error)?.message ?? String(err)}`, 'check --redis and that the server is up');
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9_.@-]/g, '_').slice(0, 40) || 'unknown';
  } catch {
    return 'unknown';
  }
}
