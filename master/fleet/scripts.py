"""What the fleet keeps in Redis, and the Lua scripts that change it atomically.

Keys share one hash tag (``lp:{FLEET}:``) so that each script touches one slot.

- ``epoch``: a random word set by the first node; a Redis that lost its data
  has none (or a new one), which tells every node to sync again.
- ``seq``: the fleet's change counter; every change gets the next number and
  nodes apply changes in that order, each exactly once.
- ``events``: a stream of changes (``XADD ... MAXLEN ~``) that nodes tail.
- ``list:<id>:meta`` (``v``: the list's version, ``next``: entry id counter),
  ``list:<id>:entries`` (entry id -> JSON ``[key, value]``, in id order) and
  ``list:<id>:index`` (key -> JSON ids): the current state of one list.
- ``node:<node>``: the last change number a node sent, so a replayed change
  is never applied twice.
- ``base``: where this epoch started: the previous epoch and the counter of
  the node whose lists seeded it (``prev_epoch``, ``prev_g``), and how far
  nodes have since carried over the previous epoch's later changes
  (``carried``), so that a Redis restarted empty loses nothing any node saw.

A change is applied to a list's state, its version and ``seq`` bumped and its
event added in one script, so the state and the stream always agree.  The
scripts apply the same operations as ``control.changes`` does in each process.
"""

from __future__ import annotations

STREAM_MAXLEN = 10000
NODE_SEQ_TTL = 7 * 86400


class Keys:
    def __init__(self, fleet: str) -> None:
        self.prefix = f"lp:{{{fleet}}}:"
        self.epoch = self.prefix + "epoch"
        self.seq = self.prefix + "seq"
        self.events = self.prefix + "events"
        self.base = self.prefix + "base"

    def list_keys(self, identity: str) -> list[str]:
        base = f"{self.prefix}list:{identity}:"
        return [base + "meta", base + "entries", base + "index"]

    def node(self, node: str) -> str:
        return f"{self.prefix}node:{node}"


_OPS = """
local meta, ents, idx = KEYS[1], KEYS[2], KEYS[3]

local function ids_of(key)
  local s = redis.call('HGET', idx, key)
  if not s then return {} end
  return cjson.decode(s)
end

local function put_ids(key, ids)
  if #ids == 0 then redis.call('HDEL', idx, key) else redis.call('HSET', idx, key, cjson.encode(ids)) end
end

local function add(key, value)
  local id = redis.call('HINCRBY', meta, 'next', 1)
  redis.call('HSET', ents, id, cjson.encode({key, value}))
  local ids = ids_of(key)
  ids[#ids + 1] = id
  put_ids(key, ids)
end

local function targets(key, nth)
  local ids = ids_of(key)
  if nth == nil then return ids end
  if ids[nth + 1] then return {ids[nth + 1]} end
  return {}
end

local function set(key, value, nth)
  local found = targets(key, nth)
  for _, id in ipairs(found) do redis.call('HSET', ents, id, cjson.encode({key, value})) end
  return #found
end

local function del(key, nth)
  local found = targets(key, nth)
  for _, id in ipairs(found) do redis.call('HDEL', ents, id) end
  if nth == nil then
    put_ids(key, {})
  elseif #found > 0 then
    local ids = ids_of(key)
    table.remove(ids, nth + 1)
    put_ids(key, ids)
  end
  return #found
end

local function add_all(entries)
  for _, e in ipairs(entries) do add(e[1], e[2]) end
end
"""

INIT = _OPS + """
-- KEYS: epoch, base, seq, events, then meta, entries, index of each list
-- ARGV: new epoch, this node's previous epoch, its counter there, stream maxlen,
--       then id, kind and entries JSON of each list
-- A new epoch (Redis lost the fleet's data, or never had it) takes every list from this node.
-- An epoch seeded by a node that knew no earlier one (it had just started) is taken over by the
-- first node that did: its lists replace the seeder's, as changes every node applies.
-- Else only the lists the fleet does not have yet are seeded.  Returns the epoch, the base and
-- the lists that now hold this node's content.
local fresh = redis.call('SET', KEYS[1], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[1])
local takeover = false
if fresh then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'prev_epoch', ARGV[2], 'prev_g', ARGV[3], 'carried', ARGV[3])
elseif ARGV[2] ~= '' and ARGV[2] ~= epoch and (redis.call('HGET', KEYS[2], 'prev_epoch') or '') == '' then
  takeover = true
  redis.call('HSET', KEYS[2], 'prev_epoch', ARGV[2], 'prev_g', ARGV[3], 'carried', ARGV[3])
end
local seeded = {}
for i = 0, (#KEYS - 4) / 3 - 1 do
  meta, ents, idx = KEYS[5 + 3 * i], KEYS[6 + 3 * i], KEYS[7 + 3 * i]
  local list, kind, entries = ARGV[5 + 3 * i], ARGV[6 + 3 * i], ARGV[7 + 3 * i]
  if redis.call('EXISTS', meta) == 0 then
    redis.call('HSET', meta, 'v', 0, 'next', 0, 'kind', kind)
    add_all(cjson.decode(entries))
    seeded[#seeded + 1] = i
  elseif takeover then
    redis.call('DEL', ents, idx)
    add_all(cjson.decode(entries))
    local v = redis.call('HINCRBY', meta, 'v', 1)
    local g = redis.call('INCR', KEYS[3])
    local change = cjson.encode({kind = kind, op = 'replace', entries = cjson.decode(entries)})
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'g', g, 'list', list, 'v', v,
               'n', redis.call('HLEN', ents), 'node', 'takeover', 'seq', 0, 'change', change)
    seeded[#seeded + 1] = i
  end
end
local base = redis.call('HMGET', KEYS[2], 'prev_epoch', 'carried')
return {epoch, base[1] or '', base[2] or '0', seeded}
"""

PUBLISH = _OPS + """
-- KEYS: meta, entries, index, epoch, seq, events, node, base
-- ARGV: epoch, list id, change JSON, node, node seq, stream maxlen, node seq TTL, carried counter
-- A change is this node's (node seq, never twice), or one of the previous epoch's that this node
-- carries over (its counter there: each once, in order).
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {'epoch'} end
local sent = tonumber(ARGV[5])
if ARGV[8] ~= '' then
  local carried = tonumber(redis.call('HGET', KEYS[8], 'carried') or '0')
  local old = tonumber(ARGV[8])
  if carried >= old then return {'dup'} end
  if carried ~= old - 1 then return {'gap'} end
  redis.call('HSET', KEYS[8], 'carried', old)
else
  if tonumber(redis.call('GET', KEYS[7]) or '0') >= sent then return {'dup'} end
  redis.call('SET', KEYS[7], sent, 'EX', ARGV[7])
end
if redis.call('EXISTS', meta) == 0 then return {'err', 'no such list in the fleet.'} end
local c = cjson.decode(ARGV[3])
local op, key, value, nth = c.op, c.key, c.value, c.nth
if op == 'add' then
  add_all(c.entries)
elseif op == 'set' then
  if set(key, value, nth) == 0 then return {'err', 'entry not found.'} end
elseif op == 'del' then
  if del(key, nth) == 0 then return {'err', 'Key not found.'} end
elseif op == 'clear' then
  redis.call('DEL', ents, idx)
elseif op == 'replace' then
  redis.call('DEL', ents, idx)
  add_all(c.entries)
elseif op == 'set-map' then
  if set(key, value, nil) == 0 then add(key, value) end
elseif op == 'add-acl' then
  if #ids_of(key) == 0 then add(key, nil) end
elseif op == 'del-map' or op == 'del-acl' then
  del(key, nil)
else
  return {'err', 'unknown operation ' .. tostring(op)}
end
local v = redis.call('HINCRBY', meta, 'v', 1)
local g = redis.call('INCR', KEYS[5])
local n = redis.call('HLEN', ents)
local id = redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'g', g, 'list', ARGV[2], 'v', v, 'n', n,
                      'node', ARGV[4], 'seq', sent, 'change', ARGV[3])
return {'ok', g, v, id}
"""
