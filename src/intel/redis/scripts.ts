/**
 * The Lua scripts that change the intel set in Redis. Each one writes records, their expiry index entries and
 * their change events together (a script runs atomically), so a reader never sees a record without its event or
 * the reverse, and event versions are consecutive.
 *
 * KEYS (every script): 1 meta, 2 stream, 3 expiry, 4 sources, 5 xind, 6.. the record hashes used by this call.
 * ARGV: 1 actor, 2 changes kept in the stream, 3 schema version, 4 shard count, 5 item count, 6 client address
 *       (or ''), then what each script says.
 *
 * The stream is trimmed by version, not by entry count (XADD MINID ~ EPOCH-(VERSION - kept)): a batch event
 * carries many changes, so "changes kept" is what bounds both the stream's memory and how far behind a reader
 * may fall before it must resync.
 */
import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import type { RedisClient } from './connection.js';

/** Shared prelude: Redis time, and the meta hash (created on the first write, checked on every one). */
const PRELUDE = `
local meta, stream, expiry, sources, xind = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local actor, maxlen, schema, shards, count, address = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local m = redis.call('HMGET', meta, 'schema', 'shards', 'epoch')
local epoch = m[3]
if epoch then
  if m[1] ~= schema or m[2] ~= shards then
    return redis.error_reply('OFFPATH_SCHEMA keys hold schema ' .. tostring(m[1]) .. ' with ' .. tostring(m[2]) .. ' shards, this client writes schema ' .. schema .. ' with ' .. shards)
  end
end
local function ensure_epoch()
  if epoch then return epoch end
  -- A new data set: its epoch is the current time, or later than anything already in the stream (XADD needs
  -- growing IDs when only the meta hash was lost).
  local e = tonumber(now)
  local info = redis.pcall('XINFO', 'STREAM', stream)
  if type(info) == 'table' and not info.err then
    for i = 1, #info - 1, 2 do
      if info[i] == 'last-generated-id' then
        local ms = tonumber(string.match(info[i + 1], '^(%d+)-'))
        if ms and ms >= e then e = ms + 1 end
      end
    end
  end
  epoch = string.format('%d', e)
  redis.call('HSET', meta, 'schema', schema, 'shards', shards, 'epoch', epoch)
  redis.call('HSETNX', meta, 'version', 0)
  return epoch
end
local function xind_add(indicator, field)
  local cur = redis.call('HGET', xind, indicator)
  if not cur then
    redis.call('HSET', xind, indicator, field)
    return
  end
  for line in string.gmatch(cur, '[^\\n]+') do
    if line == field then return end
  end
  redis.call('HSET', xind, indicator, cur .. '\\n' .. field)
end
local function xind_remove(indicator, field)
  local cur = redis.call('HGET', xind, indicator)
  if not cur then return end
  local keep = {}
  for line in string.gmatch(cur, '[^\\n]+') do
    if line ~= field then keep[#keep + 1] = line end
  end
  if #keep == 0 then redis.call('HDEL', xind, indicator) else redis.call('HSET', xind, indicator, table.concat(keep, '\\n')) end
end
-- The indicator of a record whose id is explicit (second field not empty), else nil.
local function explicit_indicator(record)
  local a = string.find(record, '\t', 1, true)
  if not a then return nil end
  local b = string.find(record, '\t', a + 1, true)
  if not b or b == a + 1 then return nil end
  local c = string.find(record, '\t', b + 1, true)
  if not c then return nil end
  return string.sub(record, b + 1, c - 1)
end
-- An entry is rewritten: keep its first write time (the record's 8th field) and drop its explicit-id index line
-- (the caller adds the new one). Returns the created time to store.
local function replace_old(old, field, now)
  local created = now
  local p = 0
  for _ = 1, 7 do
    p = string.find(old, '\\t', p + 1, true)
    if not p then break end
  end
  if p then created = string.match(old, '^(%d+)', p + 1) or now end
  local was = explicit_indicator(old)
  if was then xind_remove(was, field) end
  return created
end

-- Events older than the last \`maxlen\` changes go (whole stream nodes at a time: MINID ~), and with them anything
-- of an older epoch (smaller IDs).
local function add_event(v, ...)
  local e = ensure_epoch()
  local id = e .. '-' .. string.format('%d', v)
  local keep = e .. '-' .. string.format('%d', math.max(0, v - tonumber(maxlen)))
  if address ~= '' then
    redis.call('XADD', stream, 'MINID', '~', keep, id, 't', now, 'by', actor, 'from', address, ...)
  else
    redis.call('XADD', stream, 'MINID', '~', keep, id, 't', now, 'by', actor, ...)
  end
end
-- Calls cmd(key, list...) in slices (Lua's unpack stops at a few thousand values).
local function call_in_slices(cmd, key, list, step)
  for a = 1, #list, step do
    redis.call(cmd, key, unpack(list, a, math.min(#list, a + step - 1)))
  end
end
`;

/**
 * Upsert. ARGV 7: '1' to return each record value. Items (7 ARGV each): record-hash KEYS index, field, content
 * (the first 7 record fields), expiry seconds ('0' = never), source, indicator text, '1' when the id is explicit.
 * Per item: status (0 unchanged: same content, nothing written; 1 created; 2 updated), the record's version, and
 * the record value ('' unless asked for).
 */
export const UPSERT_LUA = `${PRELUDE}
local values = ARGV[7] == '1'
local out = {}
local seen = {}
local i = 8
for _ = 1, count do
  local shard, field, content, exp, source, indicator, explicit =
    KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  i = i + 7
  local old = redis.call('HGET', shard, field)
  if old and string.sub(old, 1, #content + 1) == content .. '\\t' then
    out[#out + 1] = 0
    out[#out + 1] = tonumber(string.match(old, '(%d+)$')) or 0
    out[#out + 1] = values and old or ''
  else
    local created = now
    if old then created = replace_old(old, field, now) end
    if explicit == '1' then xind_add(indicator, field) end
    local v = redis.call('HINCRBY', meta, 'version', 1)
    local value = content .. '\\t' .. created .. '\\t' .. now .. '\\t' .. actor .. '\\t' .. string.format('%d', v)
    redis.call('HSET', shard, field, value)
    if exp == '0' then redis.call('ZREM', expiry, field) else redis.call('ZADD', expiry, exp, field) end
    if not seen[source] then
      redis.call('SADD', sources, source)
      seen[source] = true
    end
    add_event(v, 'o', 'u', 'k', field, 'r', value)
    out[#out + 1] = old and 2 or 1
    out[#out + 1] = v
    out[#out + 1] = values and value or ''
  end
end
return out
`;

/**
 * Remove. ARGV 7: '' or epoch seconds: remove only entries whose expiry is at or before it (expiry purge, which
 * must not remove an entry renewed since it was listed). Items (2 ARGV each): record-hash KEYS index, field.
 * Per item: status (0 absent or renewed, 1 removed), the new version (0 when nothing was removed), and the removed
 * record value ('' when none).
 */
export const REMOVE_LUA = `${PRELUDE}
local expiredBy = ARGV[7]
local out = {}
local i = 8
for _ = 1, count do
  local shard, field = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  i = i + 2
  local old = redis.call('HGET', shard, field)
  local go = old ~= false and old ~= nil
  if go and expiredBy ~= '' then
    local score = redis.call('ZSCORE', expiry, field)
    go = score ~= false and score ~= nil and tonumber(score) <= tonumber(expiredBy)
  end
  if go then
    redis.call('HDEL', shard, field)
    redis.call('ZREM', expiry, field)
    local was = explicit_indicator(old)
    if was then xind_remove(was, field) end
    local v = redis.call('HINCRBY', meta, 'version', 1)
    add_event(v, 'o', 'r', 'k', field)
    out[#out + 1] = 1
    out[#out + 1] = v
    out[#out + 1] = old
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = ''
  end
end
return out
`;

/**
 * Bulk upsert: the same semantics as UPSERT_LUA item by item (duplicates of one identity behave as sequential
 * upserts), with the work of Redis paid per call rather than per entry: the items come grouped by record hash, so
 * each hash is read with one HMGET and written with one HSET; the expiry index takes one ZADD and one ZREM, the
 * version is written once, and the changes go out as batch events of at most ARGV 7 changes each (fields o=b,
 * n=count, c=the changes, one per line: "u<TAB>RECORD" or "r<TAB>SOURCE<TAB>ID"; the event ID is EPOCH-LAST, LAST
 * the version of its last change, so it carries versions LAST-n+1 .. LAST).
 * ARGV 7: changes per event at most; 8: source count S; 9: count X of items with an explicit id; 10: group count G;
 * 11: '1' when an identity occurs more than once (its later items must see the earlier ones), else '0'; then the
 * S sources of the items (for the sources set); X pairs: item number (1-based, in the order sent), its
 * indicator (for the indicator index, xind); G triples: record-hash KEYS index, item count N, the expiry of all its
 * items or '' (seconds, '0' = never); then per group, in the same order, its N fields, its N contents (the first 7
 * record fields), and, when the group has no common expiry, its N expiries.
 * Items are handled in the order sent (group after group); the versions of the changes follow that order.
 * Returns { statuses, first, unchangedVersions, epoch }: one character per item in the order sent ('0' unchanged,
 * '1' created, '2' updated); the version of the first change (0 when nothing changed); the record version of each
 * unchanged item, in that order; the epoch ('' when nothing changed).
 */
export const BULK_UPSERT_LUA = `${PRELUDE}
local eventMax = tonumber(ARGV[7])
local nsources = tonumber(ARGV[8])
local nexplicit = tonumber(ARGV[9])
local ngroups = tonumber(ARGV[10])
-- Whether a field occurs more than once: only then are writes of this call tracked per field.
local dups = ARGV[11] == '1'
local at = 12 + nsources
-- Item number -> indicator, for the items with an explicit id (the indicator index, xind).
local explicit = {}
for e = at, at + 2 * nexplicit - 1, 2 do explicit[tonumber(ARGV[e])] = ARGV[e + 1] end
at = at + 2 * nexplicit
local groups = at
at = at + 3 * ngroups
local v = nil
local firstVersion = 0
local statuses = {}
local unchanged, nUnchanged = {}, 0
-- With duplicates: the values written by this call (a later duplicate sees them, as a sequential upsert would),
-- and the last expiry of each field. Without: expiry index changes go straight into their lists.
local written = {}
local finalExpiry = {}
local expiryOrder, nOrder = {}, 0
local add, rem, nAdd, nRem = {}, {}, 0, 0
-- Queues a field's expiry index change: ZREM for '0' (never expires), else ZADD at exp.
local function queue_expiry(field, exp)
  if exp == '0' then
    nRem = nRem + 1
    rem[nRem] = field
  else
    add[nAdd + 1] = exp
    add[nAdd + 2] = field
    nAdd = nAdd + 2
  end
end
local lines, nLines = {}, 0
local inEvent = 0
-- The record's tail after CREATED: UPDATED, ACTOR, and the version appended per item.
local tail = '\\t' .. now .. '\\t' .. actor .. '\\t'
local function flush_event()
  if inEvent == 0 then return end
  add_event(v, 'o', 'b', 'n', inEvent, 'c', 'u\\t' .. table.concat(lines, '\\nu\\t', 1, nLines))
  lines, nLines = {}, 0
  inEvent = 0
end
local n = 0
for g = groups, groups + 3 * ngroups - 1, 3 do
  local key = KEYS[tonumber(ARGV[g])]
  local size = tonumber(ARGV[g + 1])
  local common = ARGV[g + 2]
  local fields, contents, exps = at, at + size, at + 2 * size
  at = at + 2 * size
  if common == '' then at = at + size end
  -- Every record of the group in one HMGET (fields are contiguous in ARGV).
  local olds = {}
  for a = 0, size - 1, 4000 do
    local vals = redis.call('HMGET', key, unpack(ARGV, fields + a, fields + math.min(size, a + 4000) - 1))
    for j = 1, #vals do olds[a + j] = vals[j] end
  end
  local w, nw = {}, 0
  for j = 0, size - 1 do
    n = n + 1
    local field, content = ARGV[fields + j], ARGV[contents + j]
    local old = olds[j + 1]
    if dups then
      local seen = written[field]
      if seen ~= nil then old = seen end
    end
    if old and string.sub(old, 1, #content + 1) == content .. '\\t' then
      statuses[n] = '0'
      nUnchanged = nUnchanged + 1
      unchanged[nUnchanged] = tonumber(string.match(old, '(%d+)$')) or 0
    else
      if not v then
        ensure_epoch()
        v = tonumber(redis.call('HGET', meta, 'version')) or 0
        firstVersion = v + 1
      end
      v = v + 1
      local created = now
      if old then created = replace_old(old, field, now) end
      local is = explicit[n]
      if is then xind_add(is, field) end
      -- '%d', not the number concatenated: Lua turns a number into text with '%.14g', and glibc's floating-point
      -- formatting cost about 1 of the script's 7-9 µs per entry (measured with perf on redis-server).
      local value = content .. '\\t' .. created .. tail .. string.format('%d', v)
      w[nw + 1] = field
      w[nw + 2] = value
      nw = nw + 2
      local exp = common
      if exp == '' then exp = ARGV[exps + j] end
      if dups then
        written[field] = value
        if finalExpiry[field] == nil then
          nOrder = nOrder + 1
          expiryOrder[nOrder] = field
        end
        finalExpiry[field] = exp
      else
        queue_expiry(field, exp)
      end
      nLines = nLines + 1
      lines[nLines] = value
      inEvent = inEvent + 1
      statuses[n] = old and '2' or '1'
      if inEvent >= eventMax then flush_event() end
    end
  end
  if nw > 0 then call_in_slices('HSET', key, w, 4000) end
end
if v then
  flush_event()
  for o = 1, nOrder do
    local field = expiryOrder[o]
    queue_expiry(field, finalExpiry[field])
  end
  if nAdd > 0 then call_in_slices('ZADD', expiry, add, 4000) end
  if nRem > 0 then call_in_slices('ZREM', expiry, rem, 4000) end
  if nsources > 0 then redis.call('SADD', sources, unpack(ARGV, 12, 11 + nsources)) end
  redis.call('HSET', meta, 'version', string.format('%d', v))
end
return { table.concat(statuses), firstVersion, unchanged, v and epoch or '' }
`;

/** A Lua script run by SHA, loaded on first use (and again after a SCRIPT FLUSH or a failover). */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** `byteLengths`: the UTF-8 length of each of `args` where the caller knows it (-1 elsewhere). */
  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[], byteLengths?: Int32Array): Promise<unknown> {
    try {
      return await send(client, 'evalsha', this.sha, keys, args, byteLengths);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return send(client, 'eval', this.source, keys, args, byteLengths);
    }
  }
}

/**
 * EVALSHA / EVAL of a script call. A bulk call has thousands of arguments: the generated command methods would
 * copy them through a spread call and a rest parameter, and the Command twice more (flat(), then its wire text);
 * here the wire text is built once, and the Command keeps only what ioredis reads (the keys, for Cluster slots).
 */
function send(client: RedisClient, name: 'evalsha' | 'eval', script: string, keys: readonly string[], args: readonly (string | number)[], byteLengths?: Int32Array): Promise<unknown> {
  return client.sendCommand(new ScriptCommand(name, script, keys, args, byteLengths)) as Promise<unknown>;
}

class ScriptCommand extends Command {
  private readonly wire: string;

  constructor(name: 'evalsha' | 'eval', script: string, keys: readonly string[], args: readonly (string | number)[], byteLengths?: Int32Array) {
    super(name, [script, keys.length, ...keys], { replyEncoding: 'utf8' });
    // One string grown by +=, then flattened once: measured 15-20 % cheaper than a template string per argument
    // joined at the end (each template is a string of its own, copied once into it and once more by join).
    let wire = `*${3 + keys.length + args.length}\r\n$${name.length}\r\n${name}\r\n${bulkString(script)}${bulkString(String(keys.length))}`;
    for (const key of keys) wire += bulkString(key);
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      const text = typeof arg === 'string' ? arg : String(arg);
      const bytes = byteLengths === undefined ? -1 : byteLengths[i]!;
      wire += bytes >= 0 ? '$' + bytes + '\r\n' + text + '\r\n' : bulkString(text);
    }
    wire.charCodeAt(0);
    this.wire = wire;
  }

  override toWritable(): string {
    return this.wire;
  }
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** One RESP bulk string (its length counts UTF-8 bytes; most of ours are ASCII, where it is the length). */
function bulkString(text: string): string {
  return `$${NON_ASCII.test(text) ? Buffer.byteLength(text) : text.length}\r\n${text}\r\n`;
}

export const upsertScript = new LuaScript(UPSERT_LUA);
export const removeScript = new LuaScript(REMOVE_LUA);
export const bulkUpsertScript = new LuaScript(BULK_UPSERT_LUA);
