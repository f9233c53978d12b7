import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { parseAction, type IntelAction } from '../../intel/action.js';
import { DEFAULT_BREADTH_POLICY } from '../../intel/breadth.js';
import { parseExpiry } from '../../intel/expiry.js';
import { INDICATOR_KINDS, parseIndicator, type IndicatorKind } from '../../intel/indicator.js';
import type { IntelFileFormat } from '../../intel/intel-file.js';
import { redisOptionHelp, redisOptionsFromValues, redisOptionSpec } from '../../intel/redis/connection.js';
import { importIntel } from '../../intel/redis/import.js';
import { RedisIntelStore, type StoreStatus, type WriteMeta } from '../../intel/redis/intel-store.js';
import type { StoredIntelEntry } from '../../intel/redis/record-codec.js';
import { ExitCode, OutputClosedError, UsageError } from '../../util/errors.js';
import { parseCommandArgs, positiveInteger } from '../args.js';
import { count } from '../format.js';

export const intelHelp = `Usage: offpath intel SUBCOMMAND [options] --redis URL

Manages the fleet's threat intel in Redis. Sensors started with --redis follow every change within moments.

Subcommands:
  add INDICATOR        add an entry, or replace the entry with the same source and id
  remove INDICATOR     remove the entries with this indicator (every source, unless --source or --id)
  remove --source S --id ID
                       remove one entry by its identity
  list                 print entries, one per line (filters below)
  import FILE          load an intel file: plain list, CSV with a header, or JSON lines, as for --intel
                       ("-" reads standard input); streamed, so files of millions of lines are fine
  export               print every entry as JSON lines (or CSV), in a form import reads back
  status               version, entry count, change stream
  expire               remove entries whose expiry has passed (sensors already ignore them)

Entry options (add; defaults for import lines that give none):
  --action ACTION      block (default), monitor (alert only) or allow (protected asset)
  --expires WHEN       ISO-8601 time, epoch seconds or a TTL (3600, 90s, 15m, 2h, 7d); default never
  --source NAME        feed or owner (default "manual" for add, the file name for import)
  --reason TEXT        why (shown with every block)
  --tags LIST          tags separated by ";"
  --id ID              stable id within the source (default: the canonical indicator text)
  --force              accept block CIDRs broader than /16 (IPv4) or /32 (IPv6)
  --actor NAME         who makes the change, recorded with it (default USER@HOST)

List options:
  --kind KIND          ${INDICATOR_KINDS.join(', ')}
  --action ACTION      only this action
  --source NAME        only this source
  --tag TAG            only entries with this tag
  --expiring-before WHEN  only entries expiring before this time (ISO-8601, epoch seconds or TTL from now)
  --limit N            at most N entries (default 1000; 0 for all)
  --json               one JSON object per line

Import and export options:
  --format FORMAT      import: auto (default), plain, csv, jsonl; export: jsonl (default) or csv
  --out FILE           export: write to FILE instead of standard output
  --max-errors N       import: bad lines reported one by one (default 100; the rest are counted)
  --json               print the import summary as JSON

${redisOptionHelp}

Exit codes: 0 done; 1 import finished but some lines were refused (each is reported with its line number);
2 bad usage; 3 bad indicator or unreadable file; 4 Redis unreachable or refusing.`;

const spec = {
  action: { type: 'string' },
  expires: { type: 'string' },
  source: { type: 'string' },
  reason: { type: 'string' },
  tags: { type: 'string' },
  id: { type: 'string' },
  force: { type: 'boolean' },
  actor: { type: 'string' },
  kind: { type: 'string' },
  tag: { type: 'string' },
  'expiring-before': { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  format: { type: 'string' },
  out: { type: 'string' },
  'max-errors': { type: 'string' },
  ...redisOptionSpec,
} as const;

type Values = ReturnType<typeof parseCommandArgs<typeof spec>>['values'];

const SUBCOMMANDS = ['add', 'remove', 'list', 'import', 'export', 'status', 'expire'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** Options each subcommand accepts besides the Redis ones (anything else is a usage error). */
const ALLOWED: Record<Subcommand, readonly string[]> = {
  add: ['action', 'expires', 'source', 'reason', 'tags', 'id', 'force', 'actor', 'json'],
  remove: ['source', 'id', 'actor', 'json'],
  list: ['kind', 'action', 'source', 'tag', 'expiring-before', 'limit', 'json'],
  import: ['action', 'source', 'force', 'actor', 'format', 'max-errors', 'json'],
  export: ['format', 'out'],
  status: ['json'],
  expire: ['actor', 'json'],
};

export async function intelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, spec);
  if (values.help) {
    process.stdout.write(intelHelp + '\n');
    return ExitCode.ok;
  }
  const [sub, ...args] = positionals;
  if (sub === undefined) throw new UsageError('intel needs a subcommand: add, remove, list, import, export, status or expire');
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown intel subcommand "${sub}"`, `subcommands: ${SUBCOMMANDS.join(', ')}`);
  const subcommand = sub as Subcommand;
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || name === 'help' || name in redisOptionSpec) continue;
    if (!ALLOWED[subcommand].includes(name)) throw new UsageError(`--${name} does not apply to intel ${subcommand}`);
  }
  if (subcommand === 'remove') {
    if (args.length > 1) throw new UsageError(`intel remove takes one INDICATOR (got ${args.length} arguments)`);
    if (args.length === 0 && values.id === undefined) throw new UsageError('intel remove needs an INDICATOR, or --id ID (with --source NAME)');
  } else {
    const expected = subcommand === 'add' || subcommand === 'import' ? 1 : 0;
    if (args.length !== expected) {
      throw new UsageError(expected === 0 ? `intel ${subcommand} takes no argument (got "${args[0]}")` : `intel ${subcommand} needs ${subcommand === 'import' ? 'one FILE' : 'one INDICATOR'}`);
    }
  }
  const connection = redisOptionsFromValues(values);
  if (connection === null) throw new UsageError('intel needs --redis URL (or --redis-sentinel / --redis-cluster)');
  const store = RedisIntelStore.connect(connection);
  try {
    switch (subcommand) {
      case 'add': return await add(store, args[0]!, values);
      case 'remove': return await remove(store, args[0], values);
      case 'list': return await list(store, values);
      case 'import': return await importFile(store, args[0]!, values);
      case 'export': return await exportAll(store, values);
      case 'status': return await status(store, values);
      case 'expire': return await expire(store, values);
    }
  } finally {
    await store.close();
  }
}

function writeMeta(values: Values): WriteMeta {
  return { actor: values.actor ?? defaultActor(), allowOverBroad: values.force === true };
}

function defaultActor(): string {
  let user = process.env.USER ?? 'cli';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

async function add(store: RedisIntelStore, indicator: string, values: Values): Promise<number> {
  const result = await store.upsert({
    indicator,
    action: values.action,
    expires: values.expires,
    source: values.source,
    reason: values.reason,
    tags: values.tags,
    id: values.id,
  }, writeMeta(values));
  if (values.json) {
    process.stdout.write(JSON.stringify({ created: result.created, changed: result.changed, version: result.version, entry: result.entry }) + '\n');
  } else {
    const what = result.created ? 'added' : result.changed ? 'updated' : 'unchanged (same content already stored)';
    process.stdout.write(`${what}: ${formatEntry(result.entry)}  (version ${result.version})\n`);
  }
  return ExitCode.ok;
}

async function remove(store: RedisIntelStore, indicator: string | undefined, values: Values): Promise<number> {
  const meta = writeMeta(values);
  let removed: StoredIntelEntry[];
  let version = 0;
  if (values.id !== undefined || values.source !== undefined) {
    const source = values.source ?? 'manual';
    let id = values.id;
    if (id === undefined) id = parseIndicator(indicator!).text;
    const r = await store.remove(source, id, meta);
    removed = r.removed ? [r.removed] : [];
    version = r.version;
  } else {
    const r = await store.removeByIndicator(indicator!, meta);
    removed = r.removed;
    version = r.version;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({ removed, version }) + '\n');
  } else if (removed.length === 0) {
    process.stdout.write('no entry matched: nothing removed\n');
  } else {
    for (const e of removed) process.stdout.write(`removed: ${formatEntry(e)}\n`);
    process.stdout.write(`${removed.length} removed (version ${version})\n`);
  }
  return ExitCode.ok;
}

async function list(store: RedisIntelStore, values: Values): Promise<number> {
  const limit = values.limit === undefined ? 1000 : values.limit === '0' ? Infinity : positiveInteger('limit', values.limit, 1000);
  const kind = values.kind;
  if (kind !== undefined && !(INDICATOR_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${INDICATOR_KINDS.join(', ')}, got "${kind}"`);
  const action: IntelAction | undefined = values.action === undefined ? undefined : parseAction(values.action);
  const expiringBefore = values['expiring-before'] === undefined ? undefined : parseExpiry(values['expiring-before'], Math.floor(Date.now() / 1000));
  const out = process.stdout;
  let printed = 0;
  let cursor: string | null = null;
  let more = false;
  do {
    const page = await store.list({ cursor, limit: Math.min(1000, limit - printed), kind: kind as IndicatorKind | undefined, action, source: values.source, tag: values.tag, expiringBefore });
    for (const e of page.entries) {
      await write(out, values.json ? JSON.stringify(e) + '\n' : formatEntry(e) + '\n');
      printed++;
    }
    cursor = page.nextCursor;
    if (printed >= limit && cursor !== null) more = true;
  } while (cursor !== null && printed < limit);
  if (!values.json) process.stderr.write(`${count(printed)} entries${more ? ` (more: raise --limit, or --limit 0 for all)` : ''}\n`);
  return ExitCode.ok;
}

async function importFile(store: RedisIntelStore, file: string, values: Values): Promise<number> {
  const format = values.format ?? 'auto';
  if (!['auto', 'plain', 'csv', 'jsonl'].includes(format)) throw new UsageError(`--format must be auto, plain, csv or jsonl for import, got "${format}"`);
  const name = file === '-' ? 'stdin' : basename(file);
  let input: AsyncIterable<Buffer | string>;
  if (file === '-') {
    input = process.stdin;
  } else {
    try {
      await stat(file);
    } catch (err) {
      const { IntelFileError } = await import('../../intel/errors.js');
      throw new IntelFileError(file, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    input = createReadStream(file, { highWaterMark: 256 * 1024 });
  }
  const defaultAction = values.action === undefined ? undefined : parseAction(values.action);
  const maxErrors = values['max-errors'] === undefined ? 100 : positiveInteger('max-errors', values['max-errors'], 100);
  const result = await importIntel(store, input, {
    name,
    format: format as IntelFileFormat | 'auto',
    source: values.source,
    defaultAction,
    breadth: DEFAULT_BREADTH_POLICY,
    allowOverBroad: values.force === true,
    maxErrors,
  }, writeMeta(values));
  const f = result.file;
  const w = result.written;
  for (const e of f.errors) process.stderr.write(`offpath: ${name}:${e.line}: ${e.message}\n`);
  if (f.errorsNotKept > 0) process.stderr.write(`offpath: ${name}: ${count(f.errorsNotKept)} more bad lines\n`);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const summary = {
    file: name, format: f.format, lines: f.lines, entries: f.loaded, skipped: f.skipped, expired: f.expired,
    created: w.created, updated: w.updated, unchanged: w.unchanged, version: w.version,
    seconds: Math.round(f.durationMs) / 1000, peakRssBytes,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    process.stdout.write(`${name}: ${count(f.lines)} lines, ${count(f.loaded)} entries (${count(w.created)} new, ${count(w.updated)} updated, ${count(w.unchanged)} unchanged), ` +
      `${count(f.skipped)} bad lines skipped, ${count(f.expired)} already expired, ${summary.seconds} s, version ${w.version}\n`);
  }
  return f.skipped > 0 ? ExitCode.partial : ExitCode.ok;
}

async function exportAll(store: RedisIntelStore, values: Values): Promise<number> {
  const format = values.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new UsageError(`--format must be jsonl or csv for export, got "${format}"`);
  const out: Writable = values.out ? createWriteStream(values.out) : process.stdout;
  const stats = { malformed: 0 };
  let n = 0;
  try {
    if (format === 'csv') await write(out, 'indicator,action,expires,source,reason,tags,id\n');
    for await (const e of store.scan(stats)) {
      await write(out, format === 'csv' ? csvLine(e) : jsonLine(e));
      n++;
    }
  } finally {
    if (out !== process.stdout) {
      out.end();
      await once(out, 'close');
    }
  }
  process.stderr.write(`${count(n)} entries exported${stats.malformed ? `, ${count(stats.malformed)} malformed records skipped` : ''}\n`);
  return ExitCode.ok;
}

async function status(store: RedisIntelStore, values: Values): Promise<number> {
  const s = await store.status();
  if (values.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
  } else {
    process.stdout.write([
      `epoch            ${s.epoch ?? '(no intel set under this prefix yet)'}`,
      `version          ${s.version}`,
      `entries          ${count(s.entries)} (${count(s.expiring)} with an expiry)`,
      `sources          ${s.sources.join(', ') || '-'}`,
      // The stream is trimmed by changes, not events (a batch event carries up to hundreds of changes).
      `change stream    ${changesKept(s)} changes kept in ${count(s.streamLength)} events (max ~${count(s.streamMaxLength)} changes), oldest version ${s.oldestStreamVersion ?? '-'}`,
    ].join('\n') + '\n');
  }
  return ExitCode.ok;
}

/** Changes a reader can still catch up on from the stream: versions oldestStreamVersion..version. */
function changesKept(s: StoreStatus): string {
  return s.oldestStreamVersion === null ? '0' : count(Math.max(0, s.version - s.oldestStreamVersion + 1));
}

async function expire(store: RedisIntelStore, values: Values): Promise<number> {
  const removed = await store.purgeExpired(writeMeta(values));
  process.stdout.write(values.json ? JSON.stringify({ removed }) + '\n' : `${count(removed)} expired entries removed\n`);
  return ExitCode.ok;
}

function formatEntry(e: StoredIntelEntry): string {
  const parts = [e.indicator, e.action, `source=${e.source}`];
  if (e.id !== e.indicator) parts.push(`id=${e.id}`);
  parts.push(`expires=${e.expiresAt === null ? 'never' : new Date(e.expiresAt * 1000).toISOString()}`);
  if (e.tags.length) parts.push(`tags=${e.tags.join(';')}`);
  if (e.reason) parts.push(`reason=${JSON.stringify(e.reason)}`);
  return parts.join('  ');
}

function jsonLine(e: StoredIntelEntry): string {
  const o: Record<string, unknown> = { indicator: e.indicator, action: e.action, source: e.source };
  if (e.id !== e.indicator) o.id = e.id;
  if (e.expiresAt !== null) o.expires = e.expiresAt;
  if (e.reason) o.reason = e.reason;
  if (e.tags.length) o.tags = e.tags;
  return JSON.stringify(o) + '\n';
}

function csvLine(e: StoredIntelEntry): string {
  const fields = [e.indicator, e.action, e.expiresAt === null ? '' : String(e.expiresAt), e.source, e.reason, e.tags.join(';'), e.id === e.indicator ? '' : e.id];
  return fields.map(csvField).join(',') + '\n';
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes with back-pressure; a closed reader (| head) ends the command quietly. */
async function write(out: Writable, text: string): Promise<void> {
  if (out.destroyed) throw new OutputClosedError('output');
  if (!out.write(text)) {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(err.code === 'EPIPE' ? new OutputClosedError('output') : err);
      out.once('drain', () => {
        out.off('error', onError);
        resolve();
      });
      out.once('error', onError);
    });
  }
}
