/**
 * The Lua scripts that change the intel set in Redis. Each one writes records, their expiry index entries and
 * their change events together (a script runs atomically), so a reader never sees a record without its event or
 * the reverse, and event versions are consecutive.
 *
 * KEYS (both scripts): 1 meta, 2 stream, 3 expiry, 4 sources, 5 xind, 6.. the record hashes used by this call.
 * ARGV: 1 actor, 2 stream MAXLEN, 3 schema version, 4 shard count, 5 item count, 6 client address (or ''),
 *       then the items (see each script).
 * Both return a flat array, three elements per item (see each script).
 */
import { createHash } from 'node:crypto';
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
local function add_event(v, ...)
  local id = ensure_epoch() .. '-' .. string.format('%d', v)
  if address ~= '' then
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, id, 't', now, 'by', actor, 'from', address, ...)
  else
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, id, 't', now, 'by', actor, ...)
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
    if old then
      local p = 0
      for _ = 1, 7 do
        p = string.find(old, '\\t', p + 1, true)
        if not p then break end
      end
      if p then created = string.match(old, '^(%d+)', p + 1) or now end
      local was = explicit_indicator(old)
      if was then xind_remove(was, field) end
    end
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

/** A Lua script run by SHA, loaded on first use (and again after a SCRIPT FLUSH or a failover). */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

export const upsertScript = new LuaScript(UPSERT_LUA);
export const removeScript = new LuaScript(REMOVE_LUA);
